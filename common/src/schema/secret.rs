//! Secrets: the configuration only says where one is (`{ env: NAME }` or `{ file: PATH }`); the
//! value is read at run time and never printed.

use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

/// Where a secret is: `{ env: NAME }` or `{ file: PATH }`. Literal secrets are not accepted.
/// It serializes as the reference (never a value: [`Secret`] has no `Serialize`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretRef {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretRefMap {
    #[serde(default)]
    env: Option<String>,
    #[serde(default)]
    file: Option<PathBuf>,
}

impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = SecretRef;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("{ env: NAME } or { file: PATH }")
            }
            fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<SecretRef, E> {
                Err(E::custom(
                    "secrets are not written in the config: use { env: VARIABLE } or { file: PATH }",
                ))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<SecretRef, A::Error> {
                let m =
                    SecretRefMap::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(SecretRef {
                    env: m.env,
                    file: m.file,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// A secret value; its Debug and Display never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl SecretRef {
    /// Reads the secret; the error names where it looked, never the value.
    pub fn resolve(&self, base: &Path) -> Result<Secret, String> {
        match (&self.env, &self.file) {
            (Some(var), None) => std::env::var(var)
                .map(Secret)
                .map_err(|_| format!("environment variable {var} is not set")),
            (None, Some(file)) => {
                let path = if file.is_absolute() {
                    file.clone()
                } else {
                    base.join(file)
                };
                std::fs::read_to_string(&path)
                    .map(|s| Secret(s.trim_end_matches(['\n', '\r']).to_string()))
                    .map_err(|e| format!("cannot read secret file {}: {e}", path.display()))
            }
            _ => Err("give exactly one of `env:` or `file:`".to_string()),
        }
    }
}
