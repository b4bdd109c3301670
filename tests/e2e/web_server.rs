//! The embedded web server: health over real HTTP on a free port, signed media links, and
//! graceful shutdown.

use std::net::SocketAddr;

use autopost::domain::MediaId;
use autopost::posting::Draft;
use autopost_sim::World;
use chrono::{Duration, Utc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::jpeg;

/// Where the world's web server listens.
fn addr_of(world: &World) -> SocketAddr {
    world.url().socket_addrs(|| None).unwrap()[0]
}

/// One HTTP/1.1 GET; returns the status code and the body as text.
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let (status, _, body) = get_raw(addr, path).await;
    (status, String::from_utf8(body).unwrap())
}

#[tokio::test]
async fn healthz_answers_on_a_free_port_and_shutdown_drains_the_server() {
    let mut world = World::builder().start().await.unwrap();
    let addr = addr_of(&world);
    assert_ne!(addr.port(), 0, "port 0 must pick a real port");

    let (status, body) = get(addr, "/healthz").await;
    assert_eq!(status, 200);
    assert_eq!(body, r#"{"status":"ok"}"#);
    let (status, _) = get(addr, "/no-such-page").await;
    assert_eq!(status, 404);

    world
        .shutdown()
        .await
        .expect("the server stops after shutdown");
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "nothing listens after shutdown"
    );
}

#[tokio::test]
async fn a_signed_media_link_serves_the_image_until_it_expires() {
    let world = World::builder().x().start().await.unwrap();
    let linked = world.link_x("telegram:7", "telegram:7").await.unwrap();
    let app = world.app();
    let now = Utc::now();
    let jpeg = jpeg(16, 16);
    let draft = Draft {
        when: "tomorrow 9am".to_owned(),
        text: "photo".to_owned(),
        images: vec![jpeg.clone()],
        targets: None,
    };
    let post = app
        .create_post(&linked.actor, draft, now)
        .await
        .unwrap()
        .post;
    let store = world.store().await.unwrap();
    let media_id = store.media_of_post(post).await.unwrap()[0].id;
    let (base, media) = (world.url(), app.media());
    let fresh = media.link(base, media_id, now + Duration::minutes(5));
    let stale = media.link(base, media_id, now - Duration::seconds(1));
    let addr = addr_of(&world);

    let (status, head, body) = get_raw(addr, fresh.path()).await;
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: image/jpeg"),
        "{head}"
    );
    assert_eq!(body, jpeg);
    let (status, _, _) = get_raw(addr, stale.path()).await;
    assert_eq!(status, 410, "an expired link stops working");
    let forged = fresh.path().replace("/media/", "/media/A");
    assert_eq!(get_raw(addr, &forged).await.0, 404);
    let other = media.link(base, MediaId(999), now + Duration::minutes(5));
    assert_eq!(get_raw(addr, other.path()).await.0, 404);
    let (status, _, body) = get_raw(addr, "/privacy").await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("Privacy policy"));
}

/// One HTTP/1.1 GET; returns status, the header block and the body bytes.
async fn get_raw(addr: SocketAddr, path: &str) -> (u16, String, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head, response[split + 4..].to_vec())
}

#[tokio::test]
async fn every_answer_forbids_sniffing_and_referrers_and_pages_also_framing_and_foreign_content() {
    let world = World::builder().x().start().await.unwrap();
    let linked = world.link_x("telegram:8", "telegram:8").await.unwrap();
    let post = world
        .app()
        .create_post(
            &linked.actor,
            Draft {
                when: "tomorrow 9am".to_owned(),
                text: "photo".to_owned(),
                images: vec![jpeg(16, 16)],
                targets: None,
            },
            Utc::now(),
        )
        .await
        .unwrap()
        .post;
    let store = world.store().await.unwrap();
    let media_id = store.media_of_post(post).await.unwrap()[0].id;
    let image = world
        .app()
        .media()
        .link(world.url(), media_id, Utc::now() + Duration::minutes(5));
    let start = world
        .app()
        .connect_link("x", "telegram:8", "telegram:8", Utc::now())
        .await
        .unwrap();
    let addr = addr_of(&world);
    let header = |head: &str, name: &str| {
        head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    };
    let pages = [
        "/privacy".to_owned(),
        "/oauth/x/start?s=forged".to_owned(),
        format!("{}?{}", start.path(), start.query().unwrap()),
        "/media/forged".to_owned(),
    ];
    for path in &pages {
        let (_, head, _) = get_raw(addr, path).await;
        assert!(
            header(&head, "content-type").is_some_and(|t| t.starts_with("text/html")),
            "{path}: {head}"
        );
        let policy = header(&head, "content-security-policy")
            .unwrap_or_else(|| panic!("{path}: no content policy: {head}"));
        for directive in [
            "default-src 'none'",
            "frame-ancestors 'none'",
            "form-action 'none'",
        ] {
            assert!(policy.contains(directive), "{path}: {policy}");
        }
        assert_eq!(
            header(&head, "x-frame-options").as_deref(),
            Some("DENY"),
            "{path}"
        );
        assert_eq!(
            header(&head, "x-content-type-options").as_deref(),
            Some("nosniff")
        );
        assert_eq!(
            header(&head, "referrer-policy").as_deref(),
            Some("no-referrer")
        );
    }
    for path in ["/healthz".to_owned(), image.path().to_owned()] {
        let (status, head, _) = get_raw(addr, &path).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(
            header(&head, "x-content-type-options").as_deref(),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(
            header(&head, "referrer-policy").as_deref(),
            Some("no-referrer"),
            "{path}"
        );
        assert!(header(&head, "content-security-policy").is_none(), "{path}");
    }
}
