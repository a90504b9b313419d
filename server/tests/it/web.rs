//! The web app's security and live feed against the real server: first-run setup (and
//! its one-time token for anyone but a browser on the server itself), sign-in with its
//! rate limit, session cookies (`__Host-` when `Secure`), CSRF, roles, API keys,
//! sign-out, the server-function bridge to `/api/v1`, the dashboard push stream (which
//! ends when its session or API key stops being valid), the Content-Security-Policy (a
//! per-response script nonce on pages), the allowed hosts
//! (`CHANNELWATCH_ALLOWED_HOSTS`), and all of it behind a reverse proxy on loopback
//! (`CHANNELWATCH_TRUSTED_PROXIES`).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use engine::watchdog::WatchdogSettings;
use futures::StreamExt;
use serde_json::{json, Value};
use sim::Scenario;
use testkit::*;

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

fn set_cookie(res: &reqwest::Response) -> String {
    res.headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// The `name=value` pair of a Set-Cookie header (`cw_session=…`, or
/// `__Host-cw_session=…` when the cookie is `Secure`).
fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap_or("").to_string()
}

async fn sign_in(
    srv: &channelwatch::serve::Server,
    user: &str,
    password: &str,
) -> reqwest::Response {
    no_redirects()
        .post(url(srv, "/auth/login"))
        .form(&[("username", user), ("password", password)])
        .send()
        .await
        .unwrap()
}

/// Signs in and returns the cookie pair and the session's CSRF token.
async fn session(
    srv: &channelwatch::serve::Server,
    user: &str,
    password: &str,
) -> (String, String) {
    let res = sign_in(srv, user, password).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/");
    let cookie = cookie_pair(&set_cookie(&res));
    let me: Value = client()
        .get(url(srv, "/api/v1/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (cookie, me["csrf_token"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn first_run_setup_then_sign_in_with_a_rate_limit_and_sign_out() {
    let dir = tempfile::tempdir().unwrap();
    let srv = server(dir.path()).await;
    let web = no_redirects();

    // No user yet: every page leads to setup; the API answers 401 JSON.
    let res = web.get(url(&srv, "/dvrs")).send().await.unwrap();
    assert_eq!(
        (res.status().as_u16(), location(&res)),
        (303, "/setup".into())
    );
    let (status, body) = send(client().get(url(&srv, "/api/v1/dvrs")), None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unauthorized"))
    );
    // Probes, metrics and the setup page stay open; sign-in leads to setup for now.
    for path in ["/healthz/live", "/metrics", "/setup"] {
        let res = web.get(url(&srv, path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
    }
    let res = web.get(url(&srv, "/login")).send().await.unwrap();
    assert_eq!(location(&res), "/setup");
    // The setup page carries a CSP whose nonce its inline scripts carry.
    page_policy(web.get(url(&srv, "/setup")).send().await.unwrap()).await;

    // Setup validates, then creates the admin and signs them in.
    let res = web
        .post(url(&srv, "/auth/setup"))
        .form(&[
            ("username", "root"),
            ("password", "long enough"),
            ("confirm", "different"),
        ])
        .send()
        .await
        .unwrap();
    assert!(
        location(&res).starts_with("/setup?error="),
        "{}",
        location(&res)
    );
    let res = web
        .post(url(&srv, "/auth/setup"))
        .header("x-forwarded-proto", "https")
        .form(&[
            ("username", "root"),
            ("password", "long enough"),
            ("confirm", "long enough"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&res), "/");
    let c = set_cookie(&res);
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(c.contains(attr), "{attr} missing in {c}");
    }
    // X-Forwarded-Proto from a peer that is not a trusted proxy is not believed (the
    // trusted case is in the reverse-proxy tests below).
    assert!(!c.contains("Secure"), "{c}");
    // Setup is closed once a user exists: no second admin can be made this way.
    let res = web
        .post(url(&srv, "/auth/setup"))
        .form(&[
            ("username", "intruder"),
            ("password", "long enough"),
            ("confirm", "long enough"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&res), "/login");
    assert!(set_cookie(&res).is_empty());
    let res = web.get(url(&srv, "/setup")).send().await.unwrap();
    assert_eq!(
        location(&res),
        "/login",
        "the setup page is gone once a user exists"
    );
    assert_eq!(
        web.get(url(&srv, "/login")).send().await.unwrap().status(),
        200
    );
    let res = web.get(url(&srv, "/settings?dvr=x")).send().await.unwrap();
    assert_eq!(location(&res), "/login?next=%2Fsettings%3Fdvr%3Dx");

    // Plain HTTP without a proxy: no Secure flag, so the cookie works on a home network.
    let res = sign_in(&srv, "root", "long enough").await;
    assert!(!set_cookie(&res).contains("Secure"));
    let cookie = cookie_pair(&set_cookie(&res));
    let page = client()
        .get(url(&srv, "/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert!(page.text().await.unwrap().contains("Dashboard"));

    // Wrong passwords: a clear code, then the per-client limit with the wait in seconds.
    for _ in 0..5 {
        let res = sign_in(&srv, "root", "wrong password").await;
        assert_eq!(location(&res), "/login?error=invalid");
    }
    let res = sign_in(&srv, "root", "long enough").await;
    let to = location(&res);
    assert!(to.starts_with("/login?error=rate_limited&retry="), "{to}");
    assert!(set_cookie(&res).is_empty(), "no session while locked out");
    let html = client()
        .get(url(&srv, &to))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Too many failed sign-in attempts"), "{html}");

    // Sign-out needs the CSRF token and ends the session on the server.
    let me: Value = client()
        .get(url(&srv, "/api/v1/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (me["username"].as_str(), me["role"].as_str()),
        (Some("root"), Some("admin"))
    );
    let csrf = me["csrf_token"].as_str().unwrap();
    let res = web
        .post(url(&srv, "/auth/logout"))
        .header("cookie", &cookie)
        .form(&[("csrf", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = web
        .post(url(&srv, "/auth/logout"))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&res), "/login?signed_out=1");
    assert!(set_cookie(&res).contains("Max-Age=0"));
    let res = client()
        .get(url(&srv, "/api/v1/dvrs"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "the old cookie no longer works");
    srv.shutdown().await;
}

/// Posts the setup form as a browser at `host` would (its `Host` and `Origin`).
async fn setup_as(
    browser: &reqwest::Client,
    srv: &channelwatch::serve::Server,
    host: &str,
    username: &str,
    token: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![
        ("username", username),
        ("password", "long enough"),
        ("confirm", "long enough"),
    ];
    if let Some(t) = token {
        form.push(("token", t));
    }
    browser
        .post(url(srv, "/auth/setup"))
        .header("host", host)
        .header("origin", format!("http://{host}"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

async fn user_count(srv: &channelwatch::serve::Server) -> i64 {
    storage::users::count(&srv.services.db).await.unwrap()
}

/// DNS rebinding: a page at rebind.example whose name now resolves to this server is,
/// to the server, a loopback peer with `Host: rebind.example`. Until the first user
/// exists, setup from it needs the one-time token the server logs at start; wrong
/// tokens count as failed sign-ins; the token is void once a user exists.
#[tokio::test]
async fn first_run_setup_from_another_host_name_needs_the_logged_token() {
    let dir = tempfile::tempdir().unwrap();
    let srv = server(dir.path()).await;
    let token = srv
        .services
        .setup_token()
        .expect("a setup token while no user exists");
    assert_eq!(token.len(), 24);
    assert!(token.chars().all(|c| c.is_ascii_alphanumeric()), "{token}");
    let rebind = "rebind.example";
    let local = srv.addr.to_string();

    // The page asks for the token (prefilled from the link) only at another host name.
    let page = |host: String, path: &'static str| {
        let web = no_redirects();
        let to = url(&srv, path);
        async move {
            let res = web.get(to).header("host", host).send().await.unwrap();
            assert_eq!(res.status(), 200);
            res.text().await.unwrap()
        }
    };
    let html = page(rebind.to_string(), "/setup?token=Prefilled7").await;
    assert!(html.contains("id=\"token\""), "{html}");
    assert!(html.contains("Prefilled7"), "{html}");
    let html = page(local.clone(), "/setup").await;
    assert!(html.contains("id=\"username\""), "{html}");
    assert!(!html.contains("id=\"token\""), "{html}");

    // Without the token, or with a wrong one: refused, nobody created, no session.
    let mallory = browser_at(2);
    let res = setup_as(&mallory, &srv, rebind, "mallory", None).await;
    assert!(
        location(&res).starts_with("/setup?error="),
        "{}",
        location(&res)
    );
    assert!(set_cookie(&res).is_empty());
    let max = channelwatch::sign_in::LoginLimiter::MAX_FAILURES;
    for i in 0..max {
        let res = setup_as(
            &mallory,
            &srv,
            rebind,
            "mallory",
            Some(format!("guess{i}").as_str()),
        )
        .await;
        let to = location(&res);
        assert!(to.starts_with("/setup?error=setup+token"), "{to}");
        assert!(!to.contains("guess"), "a wrong token is not echoed: {to}");
        assert!(set_cookie(&res).is_empty());
    }
    // Wrong tokens count as failed sign-ins of the client's: now even the right one is
    // held back from that address.
    let res = setup_as(&mallory, &srv, rebind, "mallory", Some(token.as_str())).await;
    let to = location(&res);
    assert!(
        to.starts_with("/setup?error=") && to.contains("try+again"),
        "{to}"
    );
    assert_eq!(user_count(&srv).await, 0);

    // A forwarded request from a loopback proxy nobody declared trusted is not local
    // either, even with a loopback Host.
    let res = no_redirects()
        .post(url(&srv, "/auth/setup"))
        .header("x-forwarded-for", "127.0.0.1")
        .form(&[
            ("username", "mallory"),
            ("password", "long enough"),
            ("confirm", "long enough"),
        ])
        .send()
        .await
        .unwrap();
    assert!(
        location(&res).starts_with("/setup?error="),
        "{}",
        location(&res)
    );
    assert_eq!(user_count(&srv).await, 0);

    // With the token (from another address): the admin is created and signed in.
    let owner = browser_at(3);
    let res = setup_as(&owner, &srv, rebind, "root", Some(token.as_str())).await;
    assert_eq!(location(&res), "/");
    assert!(set_cookie(&res).contains("HttpOnly"));
    assert_eq!(user_count(&srv).await, 1);

    // The token is void now: no second admin with it, from anywhere.
    assert_eq!(srv.services.setup_token(), None);
    let res = setup_as(
        &browser_at(4),
        &srv,
        rebind,
        "intruder",
        Some(token.as_str()),
    )
    .await;
    assert_eq!(location(&res), "/login");
    assert!(set_cookie(&res).is_empty());
    let res = setup_as(&no_redirects(), &srv, &local, "intruder", None).await;
    assert_eq!(location(&res), "/login");
    assert_eq!(user_count(&srv).await, 1);
    // And mallory's wrong tokens still hold back its sign-ins.
    assert!(rate_limited(
        &sign_in_via(&mallory, srv.addr, "root", "long enough").await
    ));
    srv.shutdown().await;
}

/// A browser on the server itself (the README's first run, `scripts/demo.sh`, the
/// browser tests at http://127.0.0.1:18501) needs no token: a loopback peer naming the
/// server by a loopback name. Through a trusted proxy it does, whatever `Host` says.
#[tokio::test]
async fn first_run_setup_on_the_server_itself_needs_no_token() {
    for host in ["127.0.0.1", "localhost", "[::1]"] {
        let dir = tempfile::tempdir().unwrap();
        let srv = server(dir.path()).await;
        assert!(srv.services.setup_token().is_some());
        let host = format!("{host}:{}", srv.addr.port());
        let res = setup_as(&no_redirects(), &srv, &host, "root", None).await;
        assert_eq!(location(&res), "/", "{host}");
        assert_eq!(user_count(&srv).await, 1);
        assert_eq!(srv.services.setup_token(), None, "void once a user exists");
        srv.shutdown().await;
    }

    let dir = tempfile::tempdir().unwrap();
    let srv = server_with(
        dir.path(),
        &[TRUST_LOOPBACK_PROXY],
        WatchdogSettings::default(),
    )
    .await;
    let token = srv.services.setup_token().unwrap();
    let proxy = reverse_proxy(srv.addr).await;
    let via_proxy = |token: Option<&str>| {
        let mut form = vec![
            ("username", "root".to_string()),
            ("password", "long enough".to_string()),
            ("confirm", "long enough".to_string()),
        ];
        if let Some(t) = token {
            form.push(("token", t.to_string()));
        }
        browser_at(2)
            .post(format!("http://{proxy}/auth/setup"))
            .header("origin", format!("http://{proxy}"))
            .form(&form)
            .send()
    };
    let res = via_proxy(None).await.unwrap();
    assert!(
        location(&res).starts_with("/setup?error="),
        "{}",
        location(&res)
    );
    assert_eq!(user_count(&srv).await, 0);
    let res = via_proxy(Some(token.as_str())).await.unwrap();
    assert_eq!(location(&res), "/");
    assert_eq!(user_count(&srv).await, 1);
    srv.shutdown().await;
}

/// The admin adds the viewer "val" in the API the Account page uses; answers the
/// viewer's session cookie and CSRF token.
async fn add_viewer(
    srv: &channelwatch::serve::Server,
    admin: &str,
    admin_csrf: &str,
) -> (String, String) {
    let (status, body) = send(
        client()
            .post(url(srv, "/api/v1/users"))
            .header("cookie", admin)
            .header("x-csrf-token", admin_csrf)
            .json(&json!({"username": "val", "password": "viewer pass", "role": "viewer"})),
        None,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    session(srv, "val", "viewer pass").await
}

#[tokio::test]
async fn sessions_need_csrf_for_writes_and_viewers_cannot_change_anything() {
    let dir = tempfile::tempdir().unwrap();
    let srv = server_with(
        dir.path(),
        &[
            ("CHANNELWATCH_ADMIN_USER", "admin"),
            ("CHANNELWATCH_ADMIN_PASSWORD", "admin pass 1"),
        ],
        WatchdogSettings::default(),
    )
    .await;
    let (admin, admin_csrf) = session(&srv, "admin", "admin pass 1").await;
    let dvr = json!({"name": "Den", "host": "127.0.0.1", "port": closed_port()});

    // Without the token, with a wrong one, or from another site: refused.
    for (token, origin) in [
        (None, None),
        (Some("nope"), None),
        (Some(admin_csrf.as_str()), Some("http://evil.example")),
    ] {
        let mut req = client()
            .post(url(&srv, "/api/v1/dvrs"))
            .header("cookie", &admin)
            .json(&dvr);
        if let Some(t) = token {
            req = req.header("x-csrf-token", t);
        }
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        let (status, body) = send(req, None).await;
        assert_eq!(status, 403, "{body}");
    }
    let (status, created) = send(
        client()
            .post(url(&srv, "/api/v1/dvrs"))
            .header("cookie", &admin)
            .header("x-csrf-token", &admin_csrf)
            .json(&dvr),
        None,
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["dvr_id"].as_str().unwrap().to_string();

    // The admin adds a viewer in the API the Account page uses.
    let (viewer, viewer_csrf) = add_viewer(&srv, &admin, &admin_csrf).await;

    // Reads work; every write is refused on the server, with a valid token.
    let (status, list) = send(
        client()
            .get(url(&srv, "/api/v1/dvrs"))
            .header("cookie", &viewer),
        None,
    )
    .await;
    assert_eq!((status, list.as_array().map(Vec::len)), (200, Some(1)));
    let writes = [
        client().post(url(&srv, "/api/v1/dvrs")).json(&dvr),
        client()
            .patch(url(&srv, &format!("/api/v1/dvrs/{id}")))
            .json(&json!({"name": "x"})),
        client().delete(url(&srv, &format!("/api/v1/dvrs/{id}"))),
        client().put(url(&srv, "/api/v1/routing")).json(&json!({})),
        client()
            .put(url(&srv, "/api/v1/settings"))
            .json(&json!({"dvr_soft_limit": 50})),
        client()
            .post(url(&srv, "/api/v1/providers"))
            .json(&json!({"type": "webhook", "url": "http://127.0.0.1:9/x"})),
        client()
            .post(url(&srv, "/api/v1/apikeys"))
            .json(&json!({"name": "sneaky"})),
        client()
            .post(url(&srv, "/api/v1/users"))
            .json(&json!({"username": "eve", "password": "long enough"})),
    ];
    for req in writes {
        let (status, body) = send(
            req.header("cookie", &viewer)
                .header("x-csrf-token", &viewer_csrf),
            None,
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (403, Some("forbidden")),
            "{body}"
        );
    }
    let (status, _) = send(
        client()
            .get(url(&srv, "/api/v1/users"))
            .header("cookie", &viewer),
        None,
    )
    .await;
    assert_eq!(status, 403, "viewers do not see the user list");
    let (_, after) = send(
        client()
            .get(url(&srv, &format!("/api/v1/dvrs/{id}")))
            .header("cookie", &viewer),
        None,
    )
    .await;
    assert_eq!(after["name"], "Den", "nothing changed");

    // The same refusal through the server function the browser uses.
    let reply: Value = client()
        .post(url(&srv, "/api/call"))
        .header("cookie", &viewer)
        .form(&[
            ("method", "DELETE"),
            ("path", &format!("/api/v1/dvrs/{id}")),
            ("csrf", &viewer_csrf),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reply["status"], 403, "{reply}");
    // A viewer may change their own password (wrong current password: a clear error).
    let (status, body) = send(
        client()
            .post(url(&srv, "/api/v1/me/password"))
            .header("cookie", &viewer)
            .header("x-csrf-token", &viewer_csrf)
            .json(&json!({"current_password": "not it", "new_password": "new viewer pass"})),
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("wrong_password"))
    );
    let (status, _) = send(
        client()
            .post(url(&srv, "/api/v1/me/password"))
            .header("cookie", &viewer)
            .header("x-csrf-token", &viewer_csrf)
            .json(&json!({"current_password": "viewer pass", "new_password": "new viewer pass"})),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(sign_in(&srv, "val", "new viewer pass").await.status(), 303);

    // The admin's server-function call with the token goes through the real API.
    let reply: Value = client()
        .post(url(&srv, "/api/call"))
        .header("cookie", &admin)
        .form(&[
            ("method", "PATCH"),
            ("path", &format!("/api/v1/dvrs/{id}")),
            ("body", &json!({"name": "Den 2"}).to_string()),
            ("csrf", &admin_csrf),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reply["status"], 200, "{reply}");
    let reply: Value = client()
        .post(url(&srv, "/api/call"))
        .header("cookie", &admin)
        .form(&[("method", "GET"), ("path", "/healthz/live")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reply["status"], 400, "only /api/v1 through the bridge");
    srv.shutdown().await;
}

#[tokio::test]
async fn api_keys_are_shown_once_work_and_can_be_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let srv = server_with(
        dir.path(),
        &[
            ("CHANNELWATCH_ADMIN_USER", "admin"),
            ("CHANNELWATCH_ADMIN_PASSWORD", "admin pass 1"),
        ],
        WatchdogSettings::default(),
    )
    .await;
    let (admin, csrf) = session(&srv, "admin", "admin pass 1").await;
    let (status, created) = send(
        client()
            .post(url(&srv, "/api/v1/apikeys"))
            .header("cookie", &admin)
            .header("x-csrf-token", &csrf)
            .json(&json!({"name": "grafana"})),
        None,
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let key = created["key"].as_str().unwrap().to_string();
    let (status, _) = send(client().get(url(&srv, "/api/v1/dvrs")), Some(&key)).await;
    assert_eq!(status, 200);
    let (_, list) = send(
        client()
            .get(url(&srv, "/api/v1/apikeys"))
            .header("cookie", &admin),
        None,
    )
    .await;
    let listed = list.to_string();
    assert!(
        listed.contains("grafana") && !listed.contains(&key),
        "{listed}"
    );
    let id = list[0]["id"].as_i64().unwrap();
    let (status, _) = send(
        client()
            .delete(url(&srv, &format!("/api/v1/apikeys/{id}")))
            .header("cookie", &admin)
            .header("x-csrf-token", &csrf),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, body) = send(client().get(url(&srv, "/api/v1/dvrs")), Some(&key)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_api_key"))
    );
    srv.shutdown().await;
}

/// Reads SSE events until a `dashboard` one satisfies `want`.
async fn frame_where(
    stream: &mut (impl futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    buf: &mut String,
    timeout: Duration,
    want: impl Fn(&Value) -> bool,
) -> Value {
    event_where(stream, buf, timeout, "dashboard", want).await
}

/// Reads SSE events until one named `kind` satisfies `want`.
async fn event_where(
    stream: &mut (impl futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    buf: &mut String,
    timeout: Duration,
    kind: &str,
    want: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let data: String = block
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(str::trim_start)
                .collect();
            if block.lines().any(|l| l == format!("event: {kind}")) {
                let v: Value = serde_json::from_str(&data).unwrap();
                if want(&v) {
                    return v;
                }
            }
        }
        let chunk = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("the wanted frame arrived in time")
            .expect("stream open")
            .unwrap();
        buf.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test]
async fn the_live_feed_pushes_dashboard_frames_on_change() {
    let dir = tempfile::tempdir().unwrap();
    let srv = server(dir.path()).await;
    let sim = sim(Scenario::FamilyEvening).await;
    let res = client()
        .get(url(&srv, "/api/v1/live"))
        .header("x-api-key", API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut stream = res.bytes_stream();
    let mut buf = String::new();
    let first = frame_where(&mut stream, &mut buf, Duration::from_secs(5), |_| true).await;
    assert_eq!(first["dvrs"], json!([]));

    // A DVR added through the API shows up, connects, and its sessions arrive.
    let (status, dvr) = send(
        client().post(url(&srv, "/api/v1/dvrs")).json(&json!({
            "name": "Family", "host": "127.0.0.1", "port": sim.addr().port()
        })),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 201);
    let id = dvr["dvr_id"].as_str().unwrap().to_string();
    let f = frame_where(&mut stream, &mut buf, Duration::from_secs(10), |f| {
        f["dvrs"][0]["connected"] == true && !f["sessions"].as_array().unwrap().is_empty()
    })
    .await;
    assert_eq!(f["dvrs"][0]["dvr_id"], id.as_str());
    assert_eq!(f["sessions"][0]["dvr_name"], "Family");
    // Dashboard frames leave the alert history out; it comes as its own event, and
    // only when it changed.
    assert_eq!(f["alerts"], json!([]));
    let alerts = event_where(
        &mut stream,
        &mut buf,
        Duration::from_secs(10),
        "alerts",
        |a| a.as_array().is_some_and(|a| !a.is_empty()),
    )
    .await;
    assert_eq!(alerts[0]["dvr_name"], "Family");

    // A rename is pushed without anyone asking.
    send(
        client()
            .patch(url(&srv, &format!("/api/v1/dvrs/{id}")))
            .json(&json!({"name": "Family Room"})),
        Some(API_KEY),
    )
    .await;
    frame_where(&mut stream, &mut buf, Duration::from_secs(5), |f| {
        f["dvrs"][0]["name"] == "Family Room"
    })
    .await;

    // The chart data has the DVR (its first sample is taken shortly after start).
    let (status, activity) = send(
        client().get(url(&srv, "/api/v1/activity?hours=24")),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 200, "{activity}");
    assert!(activity["to"].as_i64().unwrap() - activity["from"].as_i64().unwrap() == 86_400);
    srv.shutdown().await;
    sim.shutdown().await;
}

/// A server whose live streams recheck their caller every second, with an admin.
async fn rechecking_server(dir: &std::path::Path) -> channelwatch::serve::Server {
    server_with(
        dir,
        &[
            ("CHANNELWATCH_ADMIN_USER", "admin"),
            ("CHANNELWATCH_ADMIN_PASSWORD", "admin pass 1"),
            ("CHANNELWATCH_LIVE_RECHECK_SECONDS", "1"),
        ],
        WatchdogSettings::default(),
    )
    .await
}

/// A stream must end this soon after its caller lost access (one-second rechecks).
const ENDS_WITHIN: Duration = Duration::from_secs(5);
/// Long enough for a valid caller to pass two rechecks (and several frames).
const STAYS_OPEN: Duration = Duration::from_millis(2500);

/// An open `/api/v1/live` response body.
type LiveStream = futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>;

/// Opens `/api/v1/live` with one credential header and reads its first frame.
async fn open_live(srv: &channelwatch::serve::Server, (name, value): (&str, &str)) -> LiveStream {
    // No overall timeout (`client()` has ten seconds): the stream is meant to outlive it.
    let res = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .build()
        .unwrap()
        .get(url(srv, "/api/v1/live"))
        .header(name, value)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut stream = res.bytes_stream().boxed();
    frame_where(
        &mut stream,
        &mut String::new(),
        Duration::from_secs(5),
        |_| true,
    )
    .await;
    stream
}

/// Reads frames for `d`; fails if the stream ends or breaks meanwhile.
async fn stays_open(stream: &mut LiveStream, d: Duration) {
    let until = tokio::time::Instant::now() + d;
    while let Ok(next) = tokio::time::timeout_at(until, stream.next()).await {
        match next {
            Some(Ok(_)) => {}
            Some(Err(e)) => panic!("the live stream broke: {e}"),
            None => panic!("the live stream ended while its caller was still valid"),
        }
    }
}

/// Reads to the end of the stream; fails if it is still open after `timeout` or
/// breaks instead of ending cleanly.
async fn ends_within(stream: &mut LiveStream, timeout: Duration) {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => panic!("the live stream was still open {timeout:?} later"),
            Ok(None) => return,
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => panic!("the live stream broke instead of ending: {e}"),
        }
    }
}

#[tokio::test]
async fn the_live_feed_ends_after_sign_out() {
    let dir = tempfile::tempdir().unwrap();
    let srv = rechecking_server(dir.path()).await;
    let (cookie, csrf) = session(&srv, "admin", "admin pass 1").await;
    let mut feed = open_live(&srv, ("cookie", &cookie)).await;
    // Frames every second neither end nor postpone the rechecks a valid session passes.
    stays_open(&mut feed, STAYS_OPEN).await;
    let res = no_redirects()
        .post(url(&srv, "/auth/logout"))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&res), "/login?signed_out=1");
    ends_within(&mut feed, ENDS_WITHIN).await;
    srv.shutdown().await;
}

#[tokio::test]
async fn the_live_feed_ends_when_its_session_expires() {
    let dir = tempfile::tempdir().unwrap();
    let srv = rechecking_server(dir.path()).await;
    let (cookie, _) = session(&srv, "admin", "admin pass 1").await;
    let mut feed = open_live(&srv, ("cookie", &cookie)).await;
    // The session runs out in three seconds, as a fourteen-day one would: nothing else
    // touches it.
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(3))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    sqlx::query("UPDATE user_sessions SET expires_at = ?")
        .bind(soon)
        .execute(&srv.services.db.pool)
        .await
        .unwrap();
    stays_open(&mut feed, Duration::from_millis(1500)).await;
    ends_within(&mut feed, ENDS_WITHIN).await;
    let res = client()
        .get(url(&srv, "/api/v1/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "the session did expire");
    srv.shutdown().await;
}

#[tokio::test]
async fn the_live_feed_of_other_sessions_ends_after_a_password_change() {
    let dir = tempfile::tempdir().unwrap();
    let srv = rechecking_server(dir.path()).await;
    let (elsewhere, _) = session(&srv, "admin", "admin pass 1").await;
    let (here, csrf) = session(&srv, "admin", "admin pass 1").await;
    let mut other = open_live(&srv, ("cookie", &elsewhere)).await;
    let mut own = open_live(&srv, ("cookie", &here)).await;
    let (status, body) = send(
        client()
            .post(url(&srv, "/api/v1/me/password"))
            .header("cookie", &here)
            .header("x-csrf-token", &csrf)
            .json(&json!({"current_password": "admin pass 1", "new_password": "admin pass 2"})),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    ends_within(&mut other, ENDS_WITHIN).await;
    // The session that changed the password stays signed in, and so does its stream.
    stays_open(&mut own, STAYS_OPEN).await;
    drop(own);
    srv.shutdown().await;
}

#[tokio::test]
async fn the_live_feed_ends_when_its_user_is_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let srv = rechecking_server(dir.path()).await;
    let (status, body) = send(
        client()
            .post(url(&srv, "/api/v1/users"))
            .json(&json!({"username": "val", "password": "viewer pass"})),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (viewer, _) = session(&srv, "val", "viewer pass").await;
    let (admin, _) = session(&srv, "admin", "admin pass 1").await;
    let mut feed = open_live(&srv, ("cookie", &viewer)).await;
    let mut admin_feed = open_live(&srv, ("cookie", &admin)).await;
    let (_, users) = send(client().get(url(&srv, "/api/v1/users")), Some(API_KEY)).await;
    let id = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "val")
        .and_then(|u| u["id"].as_i64())
        .unwrap();
    let (status, _) = send(
        client().delete(url(&srv, &format!("/api/v1/users/{id}"))),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 204);
    ends_within(&mut feed, ENDS_WITHIN).await;
    stays_open(&mut admin_feed, STAYS_OPEN).await;
    drop(admin_feed);
    srv.shutdown().await;
}

#[tokio::test]
async fn the_live_feed_ends_when_its_api_key_is_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let srv = rechecking_server(dir.path()).await;
    let (status, created) = send(
        client()
            .post(url(&srv, "/api/v1/apikeys"))
            .json(&json!({"name": "grafana"})),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let key = created["key"].as_str().unwrap().to_string();
    let mut feed = open_live(&srv, ("x-api-key", &key)).await;
    let mut env_feed = open_live(&srv, ("x-api-key", API_KEY)).await;
    stays_open(&mut feed, STAYS_OPEN).await;
    let (_, list) = send(client().get(url(&srv, "/api/v1/apikeys")), Some(API_KEY)).await;
    let id = list[0]["id"].as_i64().unwrap();
    let (status, _) = send(
        client().delete(url(&srv, &format!("/api/v1/apikeys/{id}"))),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 204);
    ends_within(&mut feed, ENDS_WITHIN).await;
    // `CHANNELWATCH_API_KEY` cannot be revoked: its stream goes on.
    stays_open(&mut env_feed, STAYS_OPEN).await;
    drop(env_feed);
    srv.shutdown().await;
}

#[tokio::test]
async fn advanced_settings_validate_and_apply() {
    let dir = tempfile::tempdir().unwrap();
    let srv = server(dir.path()).await;
    let put = |body: Value| {
        send(
            client().put(url(&srv, "/api/v1/settings")).json(&body),
            Some(API_KEY),
        )
    };
    let (status, body) = put(json!({"retention_days": 0})).await;
    assert_eq!(status, 422);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("retention_days:"),
        "{body}"
    );
    let (status, body) =
        put(json!({"disk_thresholds": {"warning_percent": 5, "critical_percent": 10}})).await;
    assert_eq!(status, 422);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("disk_thresholds."),
        "{body}"
    );
    let (status, body) = put(json!({"retention_days": 90, "disk_thresholds": {"warning_percent": 20, "warning_gib": 100, "critical_percent": 8, "critical_gib": 40}})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["retention_days"], 90);
    assert_eq!(body["disk_thresholds"]["warning_percent"], 20.0);
    assert_eq!(srv.services.engine.disk_thresholds().critical_gib, 40.0);
    srv.shutdown().await;
    // Saved thresholds apply again after a restart.
    let srv = server(dir.path()).await;
    assert_eq!(srv.services.engine.disk_thresholds().critical_gib, 40.0);
    srv.shutdown().await;
}

#[tokio::test]
async fn viewers_do_not_see_credential_bearing_webhook_urls_or_ntfy_topics() {
    let dir = tempfile::tempdir().unwrap();
    let srv = server_with(
        dir.path(),
        &[
            ("CHANNELWATCH_ADMIN_USER", "admin"),
            ("CHANNELWATCH_ADMIN_PASSWORD", "admin pass 1"),
        ],
        WatchdogSettings::default(),
    )
    .await;
    let hook = "http://127.0.0.1:8123/api/webhook/secret-hook-id";
    for body in [
        json!({"type": "webhook", "name": "HA", "url": hook, "secret": "s3cret-value"}),
        json!({"type": "ntfy", "name": "Phone", "url": "http://127.0.0.1:9", "topic": "private-topic-7"}),
    ] {
        let (status, p) = send(
            client().post(url(&srv, "/api/v1/providers")).json(&body),
            Some(API_KEY),
        )
        .await;
        assert_eq!(status, 201, "{p}");
    }
    let (admin, admin_csrf) = session(&srv, "admin", "admin pass 1").await;
    let (viewer, _) = add_viewer(&srv, &admin, &admin_csrf).await;
    let (status, seen) = send(
        client()
            .get(url(&srv, "/api/v1/providers"))
            .header("cookie", &viewer),
        None,
    )
    .await;
    assert_eq!(status, 200, "{seen}");
    let text = seen.to_string();
    assert!(!text.contains("secret-hook-id"), "{text}");
    assert!(!text.contains("private-topic-7"), "{text}");
    assert!(!text.contains("s3cret-value"), "{text}");
    assert_eq!(seen[0]["url"], "****");
    assert_eq!(seen[1]["topic"], "****");
    // Admins still see what they configured (the secret itself stays masked).
    let (_, all) = send(
        client()
            .get(url(&srv, "/api/v1/providers"))
            .header("cookie", &admin),
        None,
    )
    .await;
    assert_eq!(all[0]["url"], hook);
    assert_eq!(all[1]["topic"], "private-topic-7");
    assert_eq!(all[0]["secret"], "****");
    srv.shutdown().await;
}

/// A reverse proxy on 127.0.0.1 in front of `backend`, set up as nginx would be with
/// `proxy_set_header Host $proxy_host`, `X-Forwarded-For $proxy_add_x_forwarded_for`,
/// `X-Forwarded-Host $host` and `X-Forwarded-Proto https` (as if it terminated TLS).
/// Its own connections leave from 127.0.0.1.
async fn reverse_proxy(backend: SocketAddr) -> SocketAddr {
    let upstream = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(IpAddr::from([127, 0, 0, 1]))
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let app = axum::Router::new()
        .fallback(forward)
        .with_state((upstream, backend));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    addr
}

/// Drops hop-by-hop headers (and the length, which each side sets for itself).
fn strip_hop_by_hop(headers: &mut axum::http::HeaderMap) {
    use axum::http::header::{CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
    for h in [CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING] {
        headers.remove(h);
    }
}

async fn forward(
    axum::extract::State((upstream, backend)): axum::extract::State<(reqwest::Client, SocketAddr)>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<SocketAddr>,
    req: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let mut headers = parts.headers;
    strip_hop_by_hop(&mut headers);
    // Host becomes the backend's (reqwest sets it from the URL); the browser's goes along.
    if let Some(host) = headers.remove(axum::http::header::HOST) {
        headers.insert("x-forwarded-host", host);
    }
    let chain = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(earlier) => format!("{earlier}, {}", peer.ip()),
        None => peer.ip().to_string(),
    };
    headers.insert("x-forwarded-for", chain.parse().unwrap());
    headers.insert(
        "x-forwarded-proto",
        axum::http::HeaderValue::from_static("https"),
    );
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let res = upstream
        .request(parts.method, format!("http://{backend}{path}"))
        .headers(headers)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let mut headers = res.headers().clone();
    strip_hop_by_hop(&mut headers);
    let mut out = axum::response::Response::new(axum::body::Body::from(res.bytes().await.unwrap()));
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    out
}

/// A browser at 127.0.0.`last` (all of 127/8 is loopback on Linux) that does not follow
/// redirects.
fn browser_at(last: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(IpAddr::from([127, 0, 0, last]))
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn sign_in_via(
    browser: &reqwest::Client,
    to: SocketAddr,
    user: &str,
    password: &str,
) -> reqwest::Response {
    browser
        .post(format!("http://{to}/auth/login"))
        .form(&[("username", user), ("password", password)])
        .send()
        .await
        .unwrap()
}

const ROOT: [(&str, &str); 2] = [
    ("CHANNELWATCH_ADMIN_USER", "root"),
    ("CHANNELWATCH_ADMIN_PASSWORD", "long enough"),
];
const TRUST_LOOPBACK_PROXY: (&str, &str) = ("CHANNELWATCH_TRUSTED_PROXIES", "127.0.0.1/32");

fn rate_limited(res: &reqwest::Response) -> bool {
    location(res).starts_with("/login?error=rate_limited&retry=")
}

#[tokio::test]
async fn sign_in_limits_count_the_forwarded_client_only_behind_a_trusted_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let env = [ROOT[0], ROOT[1], TRUST_LOOPBACK_PROXY];
    let srv = server_with(dir.path(), &env, WatchdogSettings::default()).await;
    let proxy = reverse_proxy(srv.addr).await;

    // Five failures from 127.0.0.2, each claiming another address in an X-Forwarded-For
    // of its own: the proxy appends the real one, and only that one counts.
    let mallory = browser_at(2);
    for i in 0..5 {
        let res = mallory
            .post(format!("http://{proxy}/auth/login"))
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .form(&[("username", "root"), ("password", "wrong password")])
            .send()
            .await
            .unwrap();
        assert_eq!(location(&res), "/login?error=invalid");
    }
    let res = sign_in_via(&mallory, proxy, "root", "long enough").await;
    assert!(rate_limited(&res), "{}", location(&res));
    // Another browser behind the same proxy has a count of its own, and the proxy's
    // X-Forwarded-Proto: https makes its cookie Secure.
    let res = sign_in_via(&browser_at(3), proxy, "root", "long enough").await;
    assert_eq!(location(&res), "/");
    assert!(set_cookie(&res).contains("Secure"), "{}", set_cookie(&res));
    // Straight to the server from 127.0.0.4 (not a trusted proxy): its forwarding
    // headers are ignored, so it can neither pass as 127.0.0.2 nor ask for Secure.
    let res = browser_at(4)
        .post(url(&srv, "/auth/login"))
        .header("x-forwarded-for", "127.0.0.2")
        .header("x-forwarded-proto", "https")
        .form(&[("username", "root"), ("password", "long enough")])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&res), "/");
    assert!(!set_cookie(&res).contains("Secure"), "{}", set_cookie(&res));
    srv.shutdown().await;

    // Without CHANNELWATCH_TRUSTED_PROXIES every forwarding header is ignored: failures
    // through the proxy and spoofed X-Forwarded-For sent directly all count for the
    // TCP peer, 127.0.0.1.
    let dir = tempfile::tempdir().unwrap();
    let srv = server_with(dir.path(), &ROOT, WatchdogSettings::default()).await;
    let proxy = reverse_proxy(srv.addr).await;
    for i in 0..3u8 {
        let res = sign_in_via(&browser_at(10 + i), proxy, "root", "wrong password").await;
        assert_eq!(location(&res), "/login?error=invalid");
    }
    for i in 0..2 {
        let res = no_redirects()
            .post(url(&srv, "/auth/login"))
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .form(&[("username", "root"), ("password", "wrong password")])
            .send()
            .await
            .unwrap();
        assert_eq!(location(&res), "/login?error=invalid");
    }
    let res = no_redirects()
        .post(url(&srv, "/auth/login"))
        .header("x-forwarded-for", "198.51.100.99")
        .form(&[("username", "root"), ("password", "long enough")])
        .send()
        .await
        .unwrap();
    assert!(rate_limited(&res), "{}", location(&res));
    let res = sign_in_via(&browser_at(20), proxy, "root", "long enough").await;
    assert!(
        rate_limited(&res),
        "behind an untrusted proxy all its browsers are the proxy: {}",
        location(&res)
    );
    // A browser at an address of its own, straight to the server, is not held back.
    let res = sign_in_via(&browser_at(21), srv.addr, "root", "long enough").await;
    assert_eq!(location(&res), "/");
    srv.shutdown().await;
}

#[tokio::test]
async fn ui_writes_work_through_a_trusted_proxy_that_rewrites_host() {
    let dir = tempfile::tempdir().unwrap();
    let env = [ROOT[0], ROOT[1], TRUST_LOOPBACK_PROXY];
    let srv = server_with(dir.path(), &env, WatchdogSettings::default()).await;
    let proxy = reverse_proxy(srv.addr).await;
    // The browser knows the server by the proxy's address: that is its Origin, while the
    // server sees Host = its own address and the browser's in X-Forwarded-Host.
    let public = format!("http://{proxy}");
    let browser = browser_at(2);
    let res = sign_in_via(&browser, proxy, "root", "long enough").await;
    assert_eq!(location(&res), "/");
    let cookie = cookie_pair(&set_cookie(&res));
    let me: Value = browser
        .get(format!("{public}/api/v1/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let csrf = me["csrf_token"].as_str().unwrap().to_string();

    // The server function the pages call, as a browser sends it.
    let port = closed_port();
    let dvr = json!({"name": "Den", "host": "127.0.0.1", "port": port}).to_string();
    let call = |origin: &str, form: &[(&str, &str)]| {
        browser
            .post(format!("{public}/api/call"))
            .header("cookie", &cookie)
            .header("origin", origin)
            .form(form)
    };
    let create = [
        ("method", "POST"),
        ("path", "/api/v1/dvrs"),
        ("body", dvr.as_str()),
        ("csrf", csrf.as_str()),
    ];
    let res = call(&public, &create).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let reply: Value = res.json().await.unwrap();
    assert_eq!(reply["status"], 201, "{reply}");
    // Another site's page is still refused.
    let res = call("http://evil.example", &create).send().await.unwrap();
    assert_eq!(res.status(), 403);
    // The API itself through the proxy, with the public Origin.
    let (status, body) = send(
        browser
            .post(format!("{public}/api/v1/dvrs"))
            .header("cookie", &cookie)
            .header("x-csrf-token", &csrf)
            .header("origin", &public)
            .json(&json!({"name": "Attic", "host": "127.0.0.2", "port": port})),
        None,
    )
    .await;
    assert_eq!(status, 201, "{body}");

    // The bridge's own requests keep the browser's address: wrong current passwords
    // through it count for 127.0.0.2 (not the proxy, not the server itself) ...
    let wrong =
        json!({"current_password": "not it", "new_password": "another long one"}).to_string();
    let change = [
        ("method", "POST"),
        ("path", "/api/v1/me/password"),
        ("body", wrong.as_str()),
        ("csrf", csrf.as_str()),
    ];
    for _ in 0..5 {
        let reply: Value = call(&public, &change)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(reply["status"], 422, "{reply}");
    }
    let reply: Value = call(&public, &change)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reply["status"], 429, "{reply}");
    let body: Value = serde_json::from_str(reply["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["error"], "rate_limited");
    // ... so that browser's sign-in is held back too, and another one's is not.
    assert!(rate_limited(
        &sign_in_via(&browser, proxy, "root", "long enough").await
    ));
    let res = sign_in_via(&browser_at(3), proxy, "root", "long enough").await;
    assert_eq!(location(&res), "/");
    srv.shutdown().await;

    // A proxy the server was not told to trust: its X-Forwarded-For and -Proto are not
    // believed (no Secure cookie), but writes still work: X-Forwarded-Host is only
    // compared with Origin, and no other site can make a browser send it.
    let dir = tempfile::tempdir().unwrap();
    let srv = server_with(dir.path(), &ROOT, WatchdogSettings::default()).await;
    let proxy = reverse_proxy(srv.addr).await;
    let public = format!("http://{proxy}");
    let res = sign_in_via(&browser, proxy, "root", "long enough").await;
    assert_eq!(location(&res), "/");
    assert!(!set_cookie(&res).contains("Secure"));
    let cookie = cookie_pair(&set_cookie(&res));
    let me: Value = browser
        .get(format!("{public}/api/v1/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let csrf = me["csrf_token"].as_str().unwrap().to_string();
    let (status, body) = send(
        browser
            .post(format!("{public}/api/v1/dvrs"))
            .header("cookie", &cookie)
            .header("x-csrf-token", &csrf)
            .header("origin", &public)
            .json(&json!({"name": "Den", "host": "127.0.0.1", "port": closed_port()})),
        None,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    srv.shutdown().await;
}

#[tokio::test]
async fn failures_against_one_username_from_many_addresses_lock_that_username() {
    let dir = tempfile::tempdir().unwrap();
    let env = [ROOT[0], ROOT[1], TRUST_LOOPBACK_PROXY];
    let srv = server_with(dir.path(), &env, WatchdogSettings::default()).await;
    let proxy = reverse_proxy(srv.addr).await;
    // A second account, and a session of root's from before the guessing.
    let (status, body) = send(
        client()
            .post(url(&srv, "/api/v1/users"))
            .json(&json!({"username": "val", "password": "viewer pass", "role": "viewer"})),
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (root, root_csrf) = session(&srv, "root", "long enough").await;

    // One wrong password from each of many addresses: none reaches its own limit ...
    let max = channelwatch::sign_in::LoginLimiter::MAX_USER_FAILURES;
    for i in 0..max {
        let res = sign_in_via(&browser_at(30 + i as u8), proxy, "root", "wrong password").await;
        assert_eq!(location(&res), "/login?error=invalid", "attempt {i}");
    }
    // ... but the username is locked, for the right password from a fresh address too.
    let fresh = browser_at(100);
    let res = sign_in_via(&fresh, proxy, "root", "long enough").await;
    assert!(rate_limited(&res), "{}", location(&res));
    assert!(set_cookie(&res).is_empty(), "no session while locked");
    // Other accounts are not: the lock is the username's, not everyone's.
    let res = sign_in_via(&fresh, proxy, "val", "viewer pass").await;
    assert_eq!(location(&res), "/");
    // Changing the password checks the same lock: root's open session cannot guess either.
    let (status, body) = send(
        client()
            .post(url(&srv, "/api/v1/me/password"))
            .header("cookie", &root)
            .header("x-csrf-token", &root_csrf)
            .json(&json!({"current_password": "long enough", "new_password": "another long one"})),
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (429, Some("rate_limited")),
        "{body}"
    );
    srv.shutdown().await;
}

/// Every Set-Cookie header of a response.
fn set_cookies(res: &reqwest::Response) -> Vec<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn secure_session_cookies_carry_the_host_prefix_and_either_name_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let env = [ROOT[0], ROOT[1], ("CHANNELWATCH_SECURE_COOKIES", "true")];
    let srv = server_with(dir.path(), &env, WatchdogSettings::default()).await;
    let res = sign_in(&srv, "root", "long enough").await;
    assert_eq!(location(&res), "/");
    let c = set_cookie(&res);
    // The __Host- prefix's rules: Secure, Path=/, no Domain.
    assert!(c.starts_with("__Host-cw_session="), "{c}");
    for attr in ["Secure", "Path=/", "HttpOnly", "SameSite=Strict"] {
        assert!(c.contains(attr), "{attr} missing in {c}");
    }
    assert!(!c.to_ascii_lowercase().contains("domain="), "{c}");
    let cookie = cookie_pair(&c);
    let (status, me) = send(
        client()
            .get(url(&srv, "/api/v1/me"))
            .header("cookie", &cookie),
        None,
    )
    .await;
    assert_eq!(
        (status, me["username"].as_str()),
        (200, Some("root")),
        "{me}"
    );
    let page = client()
        .get(url(&srv, "/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    // Sign-out clears both names (the browser may hold either).
    let csrf = me["csrf_token"].as_str().unwrap();
    let res = no_redirects()
        .post(url(&srv, "/auth/logout"))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&res), "/login?signed_out=1");
    let cleared = set_cookies(&res);
    for name in ["__Host-cw_session=", "cw_session="] {
        assert!(
            cleared
                .iter()
                .any(|c| c.starts_with(name) && c.contains("Max-Age=0")),
            "{name} not cleared: {cleared:?}"
        );
    }
    assert!(cleared
        .iter()
        .any(|c| c.starts_with("__Host-") && c.contains("Secure")));
    let (status, _) = send(
        client()
            .get(url(&srv, "/api/v1/me"))
            .header("cookie", &cookie),
        None,
    )
    .await;
    assert_eq!(status, 401);
    srv.shutdown().await;

    // Not Secure: the plain name, as before; and a session is read under either name, so
    // switching CHANNELWATCH_SECURE_COOKIES does not sign anyone out.
    let dir = tempfile::tempdir().unwrap();
    let srv = server_with(dir.path(), &ROOT, WatchdogSettings::default()).await;
    let res = sign_in(&srv, "root", "long enough").await;
    let c = set_cookie(&res);
    assert!(c.starts_with("cw_session=") && !c.contains("Secure"), "{c}");
    let token = cookie_pair(&c)
        .strip_prefix("cw_session=")
        .unwrap()
        .to_string();
    for cookie in [
        format!("cw_session={token}"),
        format!("__Host-cw_session={token}"),
        format!("__Host-cw_session=stale; cw_session={token}"),
    ] {
        let (status, body) = send(
            client()
                .get(url(&srv, "/api/v1/me"))
                .header("cookie", &cookie),
            None,
        )
        .await;
        assert_eq!(status, 200, "{cookie}: {body}");
    }
    srv.shutdown().await;
}

/// The nonce a Content-Security-Policy's `script-src` allows.
fn script_nonce(csp: &str) -> Option<String> {
    let scripts = csp
        .split(';')
        .map(str::trim)
        .find(|d| d.starts_with("script-src "))?;
    scripts
        .split_whitespace()
        .find_map(|s| s.strip_prefix("'nonce-")?.strip_suffix('\''))
        .map(str::to_string)
}

/// The `nonce` attribute of every inline `<script>` (one without `src`) in `html`.
fn inline_script_nonces(html: &str) -> Vec<Option<String>> {
    html.match_indices("<script")
        .filter_map(|(at, _)| {
            let tag = &html[at..at + html[at..].find('>')? + 1];
            if tag.contains(" src=") {
                return None;
            }
            Some(
                tag.split_once("nonce=\"")
                    .and_then(|(_, rest)| rest.split_once('"'))
                    .map(|(nonce, _)| nonce.to_string()),
            )
        })
        .collect()
}

/// A page's policy and the check that every inline script carries its nonce; the nonce.
async fn page_policy(res: reqwest::Response) -> String {
    assert_eq!(res.status(), 200, "{}", res.url());
    let csp = res
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no CSP on {}", res.url()))
        .to_string();
    let nonce = script_nonce(&csp).unwrap_or_else(|| panic!("no script nonce in {csp}"));
    assert!(nonce.len() >= 16, "{nonce}");
    for part in [
        "script-src 'self' 'nonce-",
        "'wasm-unsafe-eval'",
        "style-src 'self';",
        "img-src 'self' data:;",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(part), "{part} missing in {csp}");
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("'unsafe-eval'"),
        "{csp}"
    );
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert_eq!(res.headers()["x-frame-options"], "DENY");
    assert_eq!(res.headers()["referrer-policy"], "same-origin");
    let html = res.text().await.unwrap();
    let scripts = inline_script_nonces(&html);
    assert!(
        !scripts.is_empty(),
        "no inline script (hydration) in {html}"
    );
    for n in &scripts {
        assert_eq!(
            n.as_deref(),
            Some(nonce.as_str()),
            "an inline script without the nonce"
        );
    }
    // style-src has no 'unsafe-inline': no style attributes or <style> elements.
    assert!(
        !html.contains(" style=\"") && !html.contains("<style"),
        "{html}"
    );
    nonce
}

#[tokio::test]
async fn pages_allow_only_their_own_script_nonce_and_the_api_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let srv = server_with(dir.path(), &ROOT, WatchdogSettings::default()).await;
    // The sign-in page (no session yet) and the dashboard each carry a fresh nonce.
    let login = page_policy(client().get(url(&srv, "/login")).send().await.unwrap()).await;
    let (cookie, _) = session(&srv, "root", "long enough").await;
    let get_page = |path: &str| client().get(url(&srv, path)).header("cookie", &cookie);
    let first = page_policy(get_page("/").send().await.unwrap()).await;
    let second = page_policy(get_page("/").send().await.unwrap()).await;
    let settings = page_policy(get_page("/settings").send().await.unwrap()).await;
    assert!(
        login != first && first != second && second != settings,
        "one nonce per response"
    );
    // A page that does not exist is rendered by the fallback with a nonce of its own.
    let res = get_page("/no-such-page").send().await.unwrap();
    assert_eq!(res.status(), 404);
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    let nonce = script_nonce(&csp).expect("a script nonce on the 404 page");
    for n in inline_script_nonces(&res.text().await.unwrap()) {
        assert_eq!(n.as_deref(), Some(nonce.as_str()));
    }

    // API answers, probes and the bundle: nothing may load or frame them.
    for req in [
        client()
            .get(url(&srv, "/api/v1/dvrs"))
            .header("x-api-key", API_KEY),
        client()
            .get(url(&srv, "/api/v1/nope"))
            .header("x-api-key", API_KEY),
        client().get(url(&srv, "/api/v1/dvrs")),
        client().get(url(&srv, "/healthz/live")),
    ] {
        let res = req.send().await.unwrap();
        let h = res.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{}", res.url());
        assert_eq!(
            h["content-security-policy"],
            "default-src 'none'; frame-ancestors 'none'",
            "{}",
            res.url()
        );
        assert_eq!(h["x-frame-options"], "DENY");
    }
    srv.shutdown().await;
}

#[tokio::test]
async fn only_the_allowed_hosts_are_answered_but_probes_answer_any() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ROOT[0],
        ROOT[1],
        ("CHANNELWATCH_ALLOWED_HOSTS", "tv.example,127.0.0.1"),
        TRUST_LOOPBACK_PROXY,
    ];
    let srv = server_with(dir.path(), &env, WatchdogSettings::default()).await;
    // Straight from 127.0.0.5: not a trusted proxy.
    let direct = browser_at(5);
    let get = |host: Option<&str>, path: &str| {
        let req = direct.get(url(&srv, path)).header("x-api-key", API_KEY);
        match host {
            Some(h) => req.header("host", h),
            None => req,
        }
    };

    // Another name (DNS rebinding): refused, pages and API alike, before the guard.
    for path in ["/api/v1/dvrs", "/login", "/", "/pkg/channelwatch.css"] {
        let (status, body) = send(get(Some("evil.example"), path), None).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("host_not_allowed")),
            "{path}: {body}"
        );
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains("evil.example") && message.contains("CHANNELWATCH_ALLOWED_HOSTS"),
            "{message}"
        );
    }
    let (status, _) = send(get(Some("evil.example:8501"), "/api/v1/dvrs"), None).await;
    assert_eq!(status, 400);
    // The probes and /metrics answer whatever the host (kubelet, Prometheus by pod IP).
    for path in ["/healthz/live", "/healthz/startup", "/metrics"] {
        let res = get(Some("10.1.2.3:8501"), path).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
    }
    // Listed hosts: any port, any case.
    let (status, body) = send(get(None, "/api/v1/dvrs"), None).await;
    assert_eq!(status, 200, "127.0.0.1:<port>: {body}");
    for host in ["tv.example", "TV.Example:8501", "127.0.0.1"] {
        let (status, body) = send(get(Some(host), "/api/v1/dvrs"), None).await;
        assert_eq!(status, 200, "{host}: {body}");
    }
    let res = get(Some("tv.example"), "/login").send().await.unwrap();
    assert_eq!(res.status(), 200);
    // X-Forwarded-Host from a peer that is not a trusted proxy is not read ...
    let (status, body) = send(
        get(None, "/api/v1/dvrs").header("x-forwarded-host", "evil.example"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // ... but a trusted proxy's is: the browser's host is checked too.
    let proxy = reverse_proxy(srv.addr).await;
    let via_proxy = |host: Option<&str>| {
        let req = browser_at(6)
            .get(format!("http://{proxy}/api/v1/dvrs"))
            .header("x-api-key", API_KEY);
        match host {
            Some(h) => req.header("host", h),
            None => req,
        }
    };
    let (status, body) = send(via_proxy(None), None).await;
    assert_eq!(status, 200, "the proxy's own address, 127.0.0.1: {body}");
    let (status, body) = send(via_proxy(Some("tv.example")), None).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = send(via_proxy(Some("evil.example")), None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("host_not_allowed")),
        "{body}"
    );
    srv.shutdown().await;
}

/// Reads an answer's raw bytes with the given `Accept-Encoding`, undecoded.
async fn raw(
    srv: &channelwatch::serve::Server,
    path: &str,
    encoding: &str,
) -> (Option<String>, String, Vec<u8>) {
    let res = client()
        .get(url(srv, path))
        .header("X-API-Key", API_KEY)
        .header("Accept-Encoding", encoding)
        .send()
        .await
        .unwrap();
    let header = |name: &str| {
        res.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    let (enc, ty) = (
        header("content-encoding"),
        header("content-type").unwrap_or_default(),
    );
    (enc, ty, res.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn answers_are_compressed_as_the_browser_asks_and_the_feed_is_not() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let srv = server(dir.path()).await;
    // A JSON answer large enough to be worth it: the settings.
    let (enc, _, plain) = raw(&srv, "/api/v1/settings", "identity").await;
    assert_eq!(enc, None);
    let (enc, _, gz) = raw(&srv, "/api/v1/settings", "gzip").await;
    assert_eq!(enc.as_deref(), Some("gzip"));
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut unzipped)
        .unwrap();
    assert_eq!(unzipped, plain);
    assert!(gz.len() < plain.len(), "{} vs {}", gz.len(), plain.len());
    let (enc, _, br) = raw(&srv, "/api/v1/settings", "br, gzip").await;
    assert_eq!(enc.as_deref(), Some("br"));
    let mut unbr = Vec::new();
    brotli_decompressor::Decompressor::new(&br[..], 4096)
        .read_to_end(&mut unbr)
        .unwrap();
    assert_eq!(unbr, plain);
    // A streamed answer (the history CSV) ends cleanly through the compressor.
    let (_, _, plain) = raw(&srv, "/api/v1/history.csv", "identity").await;
    assert!(
        plain.starts_with(b"dvr_id,"),
        "{}",
        String::from_utf8_lossy(&plain)
    );
    for encoding in ["br", "gzip"] {
        let (enc, ty, body) = raw(&srv, "/api/v1/history.csv", encoding).await;
        assert_eq!(enc.as_deref(), Some(encoding), "{ty}");
        let mut out = Vec::new();
        if encoding == "br" {
            brotli_decompressor::Decompressor::new(&body[..], 4096)
                .read_to_end(&mut out)
                .unwrap();
        } else {
            flate2::read::GzDecoder::new(&body[..])
                .read_to_end(&mut out)
                .unwrap();
        }
        assert_eq!(out, plain, "{encoding}");
    }
    // A rendered page too.
    let (enc, ty, _) = raw(&srv, "/login", "gzip").await;
    assert!(ty.starts_with("text/html"), "{ty}");
    assert_eq!(enc.as_deref(), Some("gzip"));
    // The live feed streams as it is: a compressor would hold frames back.
    let res = client()
        .get(url(&srv, "/api/v1/live"))
        .header("X-API-Key", API_KEY)
        .header("Accept-Encoding", "gzip, br")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("content-encoding").is_none());
    drop(res);
    srv.shutdown().await;
}

#[tokio::test]
async fn logos_are_served_by_us_cached_and_never_broken() {
    let dir = tempfile::tempdir().unwrap();
    let srv = server(dir.path()).await;
    let sim = sim(Scenario::Quiet).await;
    let mut stream = open_live(&srv, ("x-api-key", API_KEY)).await;
    let mut buf = String::new();
    add_connected_dvr(&srv, "Den", &sim).await;
    // A channel with a logo, one whose logo file is gone, one with none (M3U).
    for (ch, call, ip) in [
        ("13.1", "KCOP", "192.168.1.20"),
        ("11.1", "KTTV", "192.168.1.21"),
        ("6001", "Pluto TV News", "192.168.1.22"),
    ] {
        sim.handle().emit(
            "activities.set",
            &format!("{ch}-stream-10811DF5-{ip}"),
            &format!("Watching ch{ch} {call} from Den TV ({ip})"),
        );
    }
    let logo_of = |f: &Value, ch: &str| -> Option<String> {
        f["sessions"]
            .as_array()?
            .iter()
            .find(|s| s["channel_number"] == ch)?["logo_url"]
            .as_str()
            .map(str::to_string)
    };
    let f = frame_where(&mut stream, &mut buf, Duration::from_secs(20), |f| {
        ["13.1", "11.1"]
            .iter()
            .all(|ch| logo_of(f, ch).is_some_and(|u| !u.starts_with("/api/v1/images/placeholder")))
            && logo_of(f, "6001").is_some()
    })
    .await;
    let kcop = logo_of(&f, "13.1").unwrap();
    let kttv = logo_of(&f, "11.1").unwrap();
    let pluto = logo_of(&f, "6001").unwrap();
    assert!(
        kcop.starts_with("/api/v1/images/") && kcop.ends_with("?label=KCOP"),
        "{kcop}"
    );
    assert!(
        !kcop.contains(&sim.addr().to_string()),
        "the browser never sees the DVR's address: {kcop}"
    );
    assert_eq!(pluto, "/api/v1/images/placeholder?label=Pluto%20TV%20News");

    // The DVR's logo, fetched once and then served from the disk cache.
    for _ in 0..2 {
        let (status, kind, body) = get_text(&srv, &kcop, Some(API_KEY)).await;
        assert_eq!((status, kind.as_str()), (200, "image/svg+xml"));
        assert!(
            body.contains("viewBox=\"0 0 160 160\"") && body.contains(">KCOP<"),
            "{body}"
        );
    }
    assert_eq!(sim.handle().requests("/dvr/uploads/ch13.png"), 1);
    let cached = std::fs::read_dir(dir.path().join("cache/images"))
        .unwrap()
        .count();
    assert_eq!(cached, 1, "one logo on disk");

    // A logo the DVR no longer has, and a channel without one: the call sign drawn.
    let (status, kind, body) = get_text(&srv, &kttv, Some(API_KEY)).await;
    assert_eq!((status, kind.as_str()), (200, "image/svg+xml"));
    assert!(
        body.contains("viewBox=\"0 0 80 80\"") && body.contains(">KTTV<"),
        "{body}"
    );
    let (status, _, body) = get_text(&srv, &pluto, Some(API_KEY)).await;
    assert_eq!(status, 200);
    assert!(body.contains(">PTN<"), "{body}");
    // Unknown keys get a placeholder too; nothing is fetched for them.
    let (status, _, body) = get_text(
        &srv,
        "/api/v1/images/00000000000000000000000000000000?label=ABC",
        Some(API_KEY),
    )
    .await;
    assert_eq!(status, 200);
    assert!(body.contains(">ABC<"), "{body}");
    // Images are the app's like any other answer: signed-in only.
    assert_eq!(get_text(&srv, &kcop, None).await.0, 401);
    srv.shutdown().await;
}
