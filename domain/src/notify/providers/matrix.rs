//! Matrix (`matrix(s)://USER:PASS@HOST/#ROOM` or `…?token=`): log in once when given a
//! password, join the room, send an `m.text` with HTML, the delivery id as the
//! transaction id so a retry is the same event.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::notify::apprise::{authority, need, Parts};
use crate::notify::checks::check_url;
use crate::notify::delivery::{
    attr_url, html_escape, Body, HttpRequest, Judge, Method, Outgoing, Plan, Session,
};

use super::{Address, Provider, ProviderConfig, ProviderInfo};

#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Matrix {
    /// The homeserver's base URL, e.g. `https://matrix.example.com`.
    pub homeserver: String,
    /// `!roomid:server` or `#alias:server`.
    pub room: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

impl Provider for Matrix {
    const INFO: &'static ProviderInfo = &ProviderInfo {
        ty: &wire::providers::MATRIX,
        tag: "matrix",
        secret_fields: &["access_token", "password"],
        viewer_hidden: &[],
        address: Address::Url {
            field: "homeserver",
            default: "",
        },
        schemes: &["matrix", "matrixs"],
        webhook_url_field: None,
        from_apprise,
    };

    fn validate(&self) -> Result<(), String> {
        check_url("homeserver", &self.homeserver)?;
        if !(self.room.starts_with('!') || self.room.starts_with('#')) {
            return Err("room: must be a room id (!id:server) or alias (#alias:server)".into());
        }
        match (&self.access_token, &self.user, &self.password) {
            (Some(_), _, _) | (None, Some(_), Some(_)) => Ok(()),
            _ => Err("access_token: give an access token, or user and password".into()),
        }
    }

    fn plan(&self, out: &Outgoing) -> Plan {
        let steps = std::sync::Arc::new(self.steps(out));
        let (join, send) = (steps.clone(), steps.clone());
        Plan::Session(Session {
            token: self.access_token.clone(),
            login_key: steps.login_key(),
            login: (steps.login(), judge_login),
            join: Box::new(move |token| (join.join(token), judge_join as Judge)),
            send: Box::new(move |token, room| (send.send(token, room), judge_send as Judge)),
        })
    }
}

impl Matrix {
    /// The requests of one delivery.
    pub fn steps(&self, out: &Outgoing) -> MatrixSteps {
        MatrixSteps {
            base: format!(
                "{}/_matrix/client/v3",
                self.homeserver.trim_end_matches('/')
            ),
            config: self.clone(),
            out: out.clone(),
        }
    }
}

/// The requests of one Matrix delivery. A password login's token is remembered under
/// [`MatrixSteps::login_key`] (each login is a new device on the homeserver, and
/// transaction ids only dedupe per token).
pub struct MatrixSteps {
    base: String,
    config: Matrix,
    out: Outgoing,
}

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

impl MatrixSteps {
    /// Who a password login is for: the client API base, the user and a digest of the
    /// password (a changed password is a new login).
    pub fn login_key(&self) -> (String, String, String) {
        use sha2::Digest as _;
        (
            self.base.clone(),
            self.config.user.clone().unwrap_or_default(),
            hex::encode(sha2::Sha256::digest(
                self.config.password.as_deref().unwrap_or_default(),
            )),
        )
    }

    /// The password login; [`judge_login`] answers the token.
    pub fn login(&self) -> HttpRequest {
        HttpRequest::post(
            format!("{}/login", self.base),
            Body::Json(json!({
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": self.config.user.as_deref().unwrap_or_default()},
                "password": self.config.password.as_deref().unwrap_or_default(),
                "initial_device_display_name": "ChannelWatch",
            })),
        )
    }

    /// Joins the room (a no-op when already in it); [`judge_join`] answers its id.
    pub fn join(&self, token: &str) -> HttpRequest {
        HttpRequest::post(
            format!("{}/join/{}", self.base, enc(&self.config.room)),
            Body::Json(json!({})),
        )
        .bearer(token)
    }

    /// The message; [`judge_send`] answers the event id.
    pub fn send(&self, token: &str, room_id: &str) -> HttpRequest {
        let out = &self.out;
        let mut html = format!(
            "<b>{}</b><br>{}",
            html_escape(&out.title),
            html_escape(&out.message).replace('\n', "<br>")
        );
        if let Some(img) = out.image_url.as_deref().and_then(attr_url) {
            html.push_str(&format!("<br><a href=\"{img}\">image</a>"));
        }
        HttpRequest {
            method: Method::Put,
            url: format!(
                "{}/rooms/{}/send/m.room.message/{}",
                self.base,
                enc(room_id),
                out.delivery_id
            ),
            headers: Vec::new(),
            unanswered: None,
            body: Body::Json(json!({
                "msgtype": "m.text",
                "body": format!("{}\n{}", out.title, out.message),
                "format": "org.matrix.custom.html",
                "formatted_body": html,
            })),
        }
        .bearer(token)
    }
}

fn judge_field(field: &str, status: u16, body: &str) -> Result<String, String> {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    match (status, v[field].as_str()) {
        (200, Some(x)) => Ok(x.to_string()),
        _ => Err(v["error"]
            .as_str()
            .map(|e| format!("{} {e}", v["errcode"].as_str().unwrap_or("")))
            .unwrap_or_else(|| body.to_string())),
    }
}

pub fn judge_login(status: u16, body: &str) -> Result<String, String> {
    judge_field("access_token", status, body)
}

pub fn judge_join(status: u16, body: &str) -> Result<String, String> {
    judge_field("room_id", status, body)
}

pub fn judge_send(status: u16, body: &str) -> Result<String, String> {
    judge_field("event_id", status, body)
}

/// `matrix(s)://USER:PASS@HOST[:PORT]/#ROOM`, `…/!ROOM_ID`, or a token as user or
/// `?token=`.
fn from_apprise(p: &Parts) -> Result<ProviderConfig, String> {
    let scheme = if p.scheme == "matrixs" {
        "https"
    } else {
        "http"
    };
    let room = p.path.first().cloned().or(p.query.get("to").cloned());
    let room = need(room, "the room (/#alias:server or /!id:server)")?;
    let (access_token, user, password) =
        match (p.query.get("token"), p.user.clone(), p.password.clone()) {
            (Some(t), _, _) => (Some(t.clone()), None, None),
            (None, Some(u), Some(pw)) => (None, Some(u), Some(pw)),
            (None, Some(token), None) => (Some(token), None, None),
            _ => return Err("url: give user:password@ or an access token".into()),
        };
    Ok(ProviderConfig::Matrix(Matrix {
        homeserver: format!("{scheme}://{}", authority(&p.host, p.port)),
        room,
        access_token,
        user,
        password,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::delivery::tests_support::outgoing;

    #[test]
    fn login_join_and_send_as_the_homeserver_wants_them() {
        let m = Matrix {
            homeserver: "http://127.0.0.1:9/".into(),
            room: "#tv:example.org".into(),
            access_token: None,
            user: Some("cw".into()),
            password: Some("pw".into()),
        };
        let Plan::Session(session) = m.plan(&outgoing()) else {
            panic!()
        };
        assert_eq!(session.token, None);
        let plan = m.steps(&outgoing());
        assert_eq!(
            plan.login().url,
            "http://127.0.0.1:9/_matrix/client/v3/login"
        );
        let join = plan.join("tok");
        assert_eq!(
            join.url,
            "http://127.0.0.1:9/_matrix/client/v3/join/%23tv%3Aexample%2Eorg"
        );
        assert_eq!(join.header_value("authorization"), Some("Bearer tok"));
        let send = plan.send("tok", "!r:example.org");
        assert_eq!(send.method, Method::Put);
        assert!(send
            .url
            .ends_with("/rooms/%21r%3Aexample%2Eorg/send/m.room.message/d-1"));
        assert_eq!(judge_join(200, r#"{"room_id":"!r:x"}"#), Ok("!r:x".into()));
        assert_eq!(
            judge_send(403, r#"{"errcode":"M_FORBIDDEN","error":"not in room"}"#),
            Err("M_FORBIDDEN not in room".into())
        );
        assert_ne!(plan.login_key().2, "pw");
    }
}
