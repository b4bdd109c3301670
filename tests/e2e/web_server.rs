//! The embedded web server: health over real HTTP on a free port, and graceful shutdown.

use std::time::Duration;

use autopost::app::App;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::TestDir;

/// One HTTP/1.1 GET; returns the status code and body.
async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn healthz_answers_on_a_free_port_and_shutdown_drains_the_server() {
    let dir = TestDir::new();
    let app = App::open(dir.config(&[])).await.unwrap();
    let listener = app.bind().await.unwrap();
    let addr = listener.local_addr().unwrap();
    assert_ne!(addr.port(), 0, "port 0 must pick a real port");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(std::sync::Arc::new(app).serve(
        listener,
        async {
            let _ = stopped.await;
        },
        Vec::new(),
    ));

    let (status, body) = get(addr, "/healthz").await;
    assert_eq!(status, 200);
    assert_eq!(body, r#"{"status":"ok"}"#);
    let (status, _) = get(addr, "/no-such-page").await;
    assert_eq!(status, 404);

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the server stops after shutdown")
        .unwrap()
        .unwrap();
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "nothing listens after shutdown"
    );
}

#[tokio::test]
async fn a_signed_media_link_serves_the_image_until_it_expires() {
    use autopost::domain::{ChatKind, ChatPlatform};
    use autopost::store::{NewMedia, NewPost};
    use chrono::Utc;

    let dir = TestDir::new();
    let app = App::open(dir.config(&[])).await.unwrap();
    let now = Utc::now();
    let store = app.store().clone();
    let user = store
        .upsert_user(ChatPlatform::Telegram, "7", None, now)
        .await
        .unwrap();
    let chat = store
        .upsert_chat(ChatPlatform::Telegram, "7", ChatKind::Private, None, now)
        .await
        .unwrap();
    let jpeg: &[u8] = &[0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3, 4, 0xFF, 0xD9];
    let saved = app.media().save(jpeg, "jpg").await.unwrap();
    let post = store
        .insert_post(
            NewPost {
                chat: chat.id,
                author: user.id,
                body: "photo".to_owned(),
                due_at: now,
                recurrence: None,
                time_zone: chrono_tz::UTC,
                targets: vec![],
                media: vec![NewMedia {
                    content_type: "image/jpeg".to_owned(),
                    byte_len: saved.byte_len,
                    width: None,
                    height: None,
                    sha256: saved.sha256.clone(),
                    file_name: saved.file_name.clone(),
                }],
            },
            now,
        )
        .await
        .unwrap();
    let media_id = store.media_of_post(post).await.unwrap()[0].id;
    let listener = app.bind().await.unwrap();
    let addr = listener.local_addr().unwrap();
    let base: url::Url = format!("http://{addr}").parse().unwrap();
    let fresh = app
        .media()
        .link(&base, media_id, now + chrono::Duration::minutes(5));
    let stale = app
        .media()
        .link(&base, media_id, now - chrono::Duration::seconds(1));
    let media = app.media().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(std::sync::Arc::new(app).serve(
        listener,
        async {
            let _ = stopped.await;
        },
        Vec::new(),
    ));

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
    let other = media.link(
        &base,
        autopost::domain::MediaId(999),
        now + chrono::Duration::minutes(5),
    );
    assert_eq!(get_raw(addr, other.path()).await.0, 404);
    let (status, _, body) = get_raw(addr, "/privacy").await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("Privacy policy"));

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

/// One HTTP/1.1 GET; returns status, the header block and the body bytes.
async fn get_raw(addr: std::net::SocketAddr, path: &str) -> (u16, String, Vec<u8>) {
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
