//! Email (`mailto(s)://USER:PASS@HOST[:PORT]/TO…`): one multipart message (plain and
//! HTML) over SMTP. [`Mail`] describes it; the server's SMTP client sends it.

use serde::{Deserialize, Serialize};

use crate::notify::apprise::Parts;
use crate::notify::checks::{blank, check_destination_host};
use crate::notify::delivery::{attr_url, html_escape, Outgoing, Plan};
pub use crate::notify::delivery::{EmailSecurity, Mail};

use super::{Address, Provider, ProviderConfig, ProviderInfo};

#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Email {
    pub smtp_host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_port: Option<u16>,
    #[serde(default)]
    pub security: EmailSecurity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    pub from: String,
    pub to: Vec<String>,
    /// PEM of an extra trusted root, for an SMTP server with a private CA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_certificate: Option<String>,
}

impl Provider for Email {
    const INFO: &'static ProviderInfo = &ProviderInfo {
        ty: &wire::providers::EMAIL,
        tag: "email",
        secret_fields: &["password"],
        viewer_hidden: &[],
        address: Address::Smtp,
        schemes: &["mailto", "mailtos"],
        webhook_url_field: None,
        from_apprise,
    };

    fn validate(&self) -> Result<(), String> {
        blank("smtp_host", &self.smtp_host)?;
        if self
            .ca_certificate
            .as_deref()
            .is_some_and(|c| !c.contains("BEGIN CERTIFICATE"))
        {
            return Err("ca_certificate: must be a PEM certificate".into());
        }
        check_destination_host("smtp_host", &self.smtp_host)?;
        if !self.from.contains('@') {
            return Err("from: must be an email address".into());
        }
        if self.to.is_empty() || self.to.iter().any(|a| !a.contains('@')) {
            return Err("to: must list at least one email address".into());
        }
        Ok(())
    }

    fn plan(&self, out: &Outgoing) -> Plan {
        Plan::Mail(Box::new(self.mail(out)))
    }
}

impl Email {
    pub fn mail(&self, out: &Outgoing) -> Mail {
        let mut html = format!(
            "<h3>{}</h3><p>{}</p>",
            html_escape(&out.title),
            html_escape(&out.message).replace('\n', "<br>")
        );
        if let Some(img) = out.image_url.as_deref().and_then(attr_url) {
            html.push_str(&format!(
                "<p><img src=\"{img}\" alt=\"\" style=\"max-width:480px\"></p>"
            ));
        }
        html.push_str(&format!(
            "<p style=\"color:#888\">{}</p>",
            html_escape(&out.dvr_name)
        ));
        Mail {
            host: self.smtp_host.clone(),
            port: self.smtp_port.unwrap_or(self.security.default_port()),
            security: self.security,
            credentials: self.username.clone().zip(self.password.clone()),
            ca_certificate: self.ca_certificate.clone(),
            from: format!("ChannelWatch <{}>", self.from),
            to: self.to.clone(),
            subject: out.title.clone(),
            plain: format!("{}\n\n{}\n\n-- {}", out.title, out.message, out.dvr_name),
            html,
        }
    }
}

/// `mailto(s)://USER:PASS@HOST[:PORT]/TO…[?smtp=…&from=…&to=…&mode=ssl|starttls|insecure]`.
fn from_apprise(p: &Parts) -> Result<ProviderConfig, String> {
    let security = match (p.scheme.as_str(), p.query.get("mode").map(String::as_str)) {
        (_, Some("ssl" | "tls")) => EmailSecurity::Tls,
        (_, Some("starttls")) | ("mailtos", None) => EmailSecurity::Starttls,
        (_, Some("insecure" | "plain")) => EmailSecurity::Plain,
        // Credentials never travel in clear unless asked for (mode=insecure).
        (_, None) if p.password.is_some() => EmailSecurity::Starttls,
        (_, None) => EmailSecurity::Plain,
        (_, Some(m)) => return Err(format!("url: mode '{m}' is not ssl, starttls or insecure")),
    };
    let host = p
        .query
        .get("smtp")
        .cloned()
        .unwrap_or_else(|| p.host.clone());
    if host.is_empty() || host == "_" {
        return Err("url: the SMTP server is missing (host or ?smtp=)".into());
    }
    let from = match (p.query.get("from"), &p.user) {
        (Some(f), _) if f.contains('@') => f.clone(),
        (_, Some(u)) if u.contains('@') => u.clone(),
        (_, Some(u)) => format!("{u}@{}", p.host),
        _ => return Err("url: the sender is missing (user or ?from=)".into()),
    };
    let mut to: Vec<String> = p.path.clone();
    if let Some(t) = p.query.get("to") {
        to.extend(
            t.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty()),
        );
    }
    if to.is_empty() {
        to.push(from.clone());
    }
    Ok(ProviderConfig::Email(Email {
        smtp_host: host,
        smtp_port: p.port,
        security,
        username: p.user.clone(),
        password: p.password.clone(),
        from,
        to,
        ca_certificate: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::delivery::tests_support::outgoing;

    #[test]
    fn the_mail_has_both_parts_and_the_default_port() {
        let e = Email {
            smtp_host: "127.0.0.1".into(),
            smtp_port: None,
            security: EmailSecurity::Tls,
            username: Some("cw".into()),
            password: Some("pw".into()),
            from: "cw@example.com".into(),
            to: vec!["ops@example.com".into()],
            ca_certificate: None,
        };
        let m = e.mail(&outgoing());
        assert_eq!(m.port, 465);
        assert_eq!(m.from, "ChannelWatch <cw@example.com>");
        assert_eq!(m.credentials, Some(("cw".into(), "pw".into())));
        assert!(m.html.contains("Kitchen &amp; den"), "{}", m.html);
        assert!(m.plain.ends_with("-- Living Room"), "{}", m.plain);
        assert!(!format!("{m:?}").contains("pw"));
    }
}
