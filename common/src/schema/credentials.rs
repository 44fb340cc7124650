//! SNMP credentials (`snmp_credentials:`), referred to by id from `snmp` checks.

use super::secret::SecretRef;
use crate::config::Spanned;
use serde::{Deserialize, Serialize};

/// SNMP credentials; secrets come from environment variables or files.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SnmpCredentials {
    pub id: Spanned<String>,
    pub version: SnmpVersion,
    /// v1/v2c community.
    #[serde(default, skip_serializing_if = "super::absent")]
    pub community: Option<SecretRef>,
    /// v3 user name.
    #[serde(default, skip_serializing_if = "super::absent")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "super::absent")]
    pub auth_protocol: Option<AuthProtocol>,
    #[serde(default, skip_serializing_if = "super::absent")]
    pub auth_password: Option<SecretRef>,
    #[serde(default, skip_serializing_if = "super::absent")]
    pub priv_protocol: Option<PrivProtocol>,
    #[serde(default, skip_serializing_if = "super::absent")]
    pub priv_password: Option<SecretRef>,
    /// v3 context name (default empty): some agents and proxies select data by context.
    #[serde(default, skip_serializing_if = "super::absent")]
    pub context_name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SnmpVersion {
    V1,
    V2c,
    V3,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthProtocol {
    Md5,
    Sha,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PrivProtocol {
    Des,
    Aes,
    Aes192,
    Aes256,
}
