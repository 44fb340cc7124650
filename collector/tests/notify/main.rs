//! Notices and alerts, one test binary: templates, routing, windows, mail through a real SMTP
//! server, delivery and retries, reports by mail, the alert channels against a real HTTP
//! receiver (`channel_rig`), a collector killed mid-delivery, and the notifier's own loops.

mod channel_rig;
mod notify_alertmanager;
mod notify_channel_kill;
mod notify_channels;
mod notify_config;
mod notify_delivery;
mod notify_loops;
mod notify_mail;
mod notify_mail_channel;
mod notify_reports;
mod notify_routing;
mod notify_storm;
mod notify_templates;
mod notify_windows;
