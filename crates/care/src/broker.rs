//! Where and how linli reaches the MQTT broker: one URL (`mqtt://` or `mqtts://`, with the
//! user and password linli connects as), an optional CA file for TLS, and the client id that
//! names linli's persistent session.

use std::path::PathBuf;
use std::time::Duration;

use rumqttc::{MqttOptions, TlsConfiguration, Transport};

/// The largest packet linli reads from the broker. A device's reading is at most 4 KiB (and
/// is refused, counted, above that); a broker set up as the README says refuses packets over
/// 64 KiB from devices, so nothing larger reaches linli. A packet over this limit would break
/// linli's connection on every redelivery, so the limit is generous.
const MAX_INCOMING_PACKET: usize = 1024 * 1024;
/// Where the system's root certificates are, for `mqtts://` without a CA file.
const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Why a broker configuration cannot be used: each says what to change.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("MQTT URL {url:?}: {why}; for example mqtt://linli:PASSWORD@127.0.0.1:1883 or mqtts://linli:PASSWORD@broker.example:8883")]
    Url { url: String, why: String },
    #[error("reading the MQTT CA file {path}: {why}")]
    Ca { path: String, why: String },
    #[error("MQTT client id {0:?}: use 1 to 64 letters, digits, '-', '_' or '.', different for each linli process")]
    ClientId(String),
}

/// How devices' accounts get onto the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provision {
    /// linli creates each device's client and role in Mosquitto's dynamic-security plugin
    /// (its user must be the plugin's administrator).
    Dynsec,
    /// The broker asks linli (EMQX's HTTP authentication and authorisation), or devices are
    /// set up on the broker by hand.
    None,
}

impl Provision {
    pub fn parse(s: &str) -> Option<Provision> {
        match s.trim() {
            "dynsec" => Some(Provision::Dynsec),
            "none" => Some(Provision::None),
            _ => None,
        }
    }
}

/// Where and how linli reaches the broker.
#[derive(Clone)]
pub struct BrokerConfig {
    pub host: String,
    pub port: u16,
    pub tls: bool,
    pub username: Option<String>,
    pub password: Option<String>,
    /// The PEM file of the CA that signed the broker's certificate; the system's roots when
    /// unset.
    pub ca_file: Option<PathBuf>,
    /// Names linli's persistent session on the broker: keep it the same across restarts, and
    /// different for each linli process sharing the stream.
    pub client_id: String,
    pub provision: Provision,
}

impl std::fmt::Debug for BrokerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display_url())
    }
}

impl BrokerConfig {
    /// The configuration a URL names, with `client_id` for linli's session.
    pub fn from_url(url: &str, client_id: &str) -> Result<BrokerConfig, BrokerError> {
        let bad = |why: &str| BrokerError::Url {
            url: redact(url),
            why: why.to_string(),
        };
        let parsed = url::Url::parse(url.trim()).map_err(|e| bad(&e.to_string()))?;
        let tls = match parsed.scheme() {
            "mqtt" | "tcp" => false,
            "mqtts" | "ssl" => true,
            other => return Err(bad(&format!("the scheme {other:?} is not mqtt or mqtts"))),
        };
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        if parsed.path().len() > 1 || parsed.query().is_some() {
            return Err(bad("a broker URL has no path or query"));
        }
        let port = parsed.port().unwrap_or(if tls { 8883 } else { 1883 });
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| bad("the user or password is not valid percent-encoded UTF-8"))
        };
        let username = match parsed.username() {
            "" => None,
            u => Some(decode(u)?),
        };
        let password = parsed.password().map(decode).transpose()?;
        if password.is_some() && username.is_none() {
            return Err(bad("a password without a user"));
        }
        let client_id = client_id.trim().to_string();
        if linli_core::care::check_device_id(&client_id).is_err() {
            return Err(BrokerError::ClientId(client_id));
        }
        Ok(BrokerConfig {
            host,
            port,
            tls,
            username,
            password,
            ca_file: None,
            client_id,
            provision: Provision::Dynsec,
        })
    }

    /// The URL without its password, for logs and messages.
    pub fn display_url(&self) -> String {
        let scheme = if self.tls { "mqtts" } else { "mqtt" };
        let user = match &self.username {
            Some(u) if self.password.is_some() => format!("{u}:***@"),
            Some(u) => format!("{u}@"),
            None => String::new(),
        };
        format!("{scheme}://{user}{}:{}", self.host, self.port)
    }

    /// Connection options for one of linli's connections: `suffix` tells them apart (the
    /// ingest session has none), `persistent` keeps the session (and what the broker queued
    /// for it) across reconnects.
    pub fn options(&self, suffix: &str, persistent: bool) -> Result<MqttOptions, BrokerError> {
        let id = if suffix.is_empty() {
            self.client_id.clone()
        } else {
            format!("{}-{suffix}", self.client_id)
        };
        let mut o = MqttOptions::new(id, self.host.clone(), self.port);
        o.set_keep_alive(Duration::from_secs(30))
            .set_clean_session(!persistent)
            .set_max_packet_size(MAX_INCOMING_PACKET, MAX_INCOMING_PACKET)
            .set_request_channel_capacity(10_000);
        if let Some(u) = &self.username {
            o.set_credentials(u.clone(), self.password.clone().unwrap_or_default());
        }
        if self.tls {
            let path = self
                .ca_file
                .clone()
                .unwrap_or_else(|| PathBuf::from(SYSTEM_ROOTS));
            let ca = std::fs::read(&path).map_err(|e| BrokerError::Ca {
                path: path.display().to_string(),
                why: e.to_string(),
            })?;
            o.set_transport(Transport::tls_with_config(TlsConfiguration::Simple {
                ca,
                alpn: None,
                client_auth: None,
            }));
        }
        Ok(o)
    }
}

/// A URL with its password hidden, for an error message.
fn redact(url: &str) -> String {
    match url::Url::parse(url.trim()) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_names_host_port_user_and_tls() {
        let c =
            BrokerConfig::from_url("mqtt://linli:p%40ss@127.0.0.1:18830", "linli-1").expect("url");
        assert_eq!(
            (c.host.as_str(), c.port, c.tls),
            ("127.0.0.1", 18830, false)
        );
        assert_eq!(c.username.as_deref(), Some("linli"));
        assert_eq!(c.password.as_deref(), Some("p@ss"));
        assert_eq!(c.display_url(), "mqtt://linli:***@127.0.0.1:18830");
        let t = BrokerConfig::from_url("mqtts://broker.example", "linli-1").expect("url");
        assert_eq!((t.port, t.tls, t.username), (8883, true, None));
        assert_eq!(
            BrokerConfig::from_url("mqtt://b", "x").expect("url").port,
            1883
        );
    }

    #[test]
    fn a_bad_url_says_what_is_wrong_and_hides_the_password() {
        for (url, says) in [
            ("http://u:secret@b:1883", "not mqtt or mqtts"),
            ("mqtt://u:secret@b:1883/path", "no path"),
            ("not a url", "relative URL"),
            ("mqtt://:secret@b", "without a user"),
        ] {
            let e = BrokerConfig::from_url(url, "linli-1")
                .expect_err(url)
                .to_string();
            assert!(e.contains(says), "{url}: {e}");
            assert!(!e.contains("secret"), "{url}: {e}");
            assert!(e.contains("for example mqtt://"), "{url}: {e}");
        }
        let e = BrokerConfig::from_url("mqtt://b", "linli/1").expect_err("client id");
        assert!(matches!(e, BrokerError::ClientId(_)));
    }

    #[test]
    fn a_missing_ca_file_is_named() {
        let mut c = BrokerConfig::from_url("mqtts://b", "linli-1").expect("url");
        c.ca_file = Some(PathBuf::from("/nonexistent/ca.pem"));
        let e = c.options("", true).expect_err("no CA").to_string();
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
    }
}
