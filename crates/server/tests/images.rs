//! Images out of a run on a real server: a Python program writes a PNG by hand (zlib and
//! struct; no matplotlib on these machines) and gets it back with the run stage of
//! `POST /api/v1/run`; past the count or byte limit images are listed as skipped; nothing is
//! read after a limit ended the run, and test runs carry none.

extern crate tiderun_server as server;

mod common;

use base64::Engine as _;
use common::{Backend, TestServer};
use serde_json::{json, Value};
use server::ServerConfig;

/// The engine's limits, as documented in the API.
const MAX_IMAGE_FILES: usize = engine::MAX_IMAGE_FILES;
const MAX_IMAGE_BYTES: u64 = engine::MAX_IMAGE_BYTES;

/// Python that writes a real PNG (`width`×`height`, 8-bit grey) and prints its base64.
pub const WRITE_PNG: &str = r#"
import base64, struct, zlib

def chunk(kind, data):
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))

def png(width, height):
    rows = b''.join(b'\x00' + bytes((x * y) % 256 for x in range(width)) for y in range(height))
    header = struct.pack('>IIBBBBB', width, height, 8, 0, 0, 0, 0)
    return b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', header) + chunk(b'IDAT', zlib.compress(rows)) + chunk(b'IEND', b'')
"#;

async fn run(server: &TestServer, body: Value) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/run", server.base))
        .json(&body)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    response.json().await.expect("JSON")
}

async fn python(server: &TestServer, code: &str) -> Value {
    run(
        server,
        json!({"language": "python", "code": format!("{WRITE_PNG}\n{code}")}),
    )
    .await
}

fn files_of(body: &Value) -> &Vec<Value> {
    body["run"]["files"]
        .as_array()
        .unwrap_or_else(|| panic!("run.files is an array: {body}"))
}

#[tokio::test]
#[ignore = "needs root: the full sandbox"]
async fn a_png_written_by_the_program_comes_back() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    let server = common::start(ServerConfig::default(), Backend::Sqlite).await;
    let body = python(
        &server,
        "data = png(64, 48)\nopen('plot.png', 'wb').write(data)\nopen('notes.txt', 'w').write('not an image')\n\
         print(base64.b64encode(data).decode())",
    )
    .await;
    assert_eq!(body["status"], "ok", "{body}");
    let files = files_of(&body);
    assert_eq!(files.len(), 1, "only the image: {body}");
    let image = &files[0];
    assert_eq!(
        (&image["name"], &image["mime"]),
        (&json!("plot.png"), &json!("image/png"))
    );
    let printed = body["run"]["stdout"].as_str().unwrap().trim();
    assert_eq!(image["content_base64"], printed, "the bytes the program wrote");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(printed)
        .expect("base64");
    assert_eq!(image["size"], bytes.len());
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(&bytes[12..16], b"IHDR");
    assert_eq!(
        (
            u32::from_be_bytes(bytes[16..20].try_into().unwrap()),
            u32::from_be_bytes(bytes[20..24].try_into().unwrap())
        ),
        (64, 48)
    );
    assert!(image.get("skipped").is_none(), "{image}");

    // No image: an empty list, not a missing field.
    let body = run(&server, json!({"language": "python", "code": "print(1)"})).await;
    assert_eq!(body["run"]["files"], json!([]), "{body}");
    server.stop().await;
}

#[tokio::test]
#[ignore = "needs root: the full sandbox"]
async fn images_past_the_limits_are_listed_as_skipped() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    let server = common::start(ServerConfig::default(), Backend::Sqlite).await;
    // Too many: the first MAX_IMAGE_FILES by name come back, the others are listed.
    let count = MAX_IMAGE_FILES + 2;
    let body = python(
        &server,
        &format!("for i in range({count}):\n    open(f'img{{i:02}}.png', 'wb').write(png(4, 4 + i))"),
    )
    .await;
    let files = files_of(&body);
    assert_eq!(files.len(), count, "{body}");
    for (i, f) in files.iter().enumerate() {
        assert_eq!(f["name"], format!("img{i:02}.png"));
        if i < MAX_IMAGE_FILES {
            assert!(f["content_base64"].is_string() && f.get("skipped").is_none(), "{f}");
        } else {
            assert!(f.get("content_base64").is_none(), "{f}");
            assert_eq!(
                f["skipped"],
                format!("over the limit of {MAX_IMAGE_FILES} images per run")
            );
        }
    }

    // Too big: a 5 MiB image is listed with its size; a small one after it still fits.
    let big = 5 << 20;
    let body = python(
        &server,
        &format!("open('big.png', 'wb').write(png(4, 4) + bytes({big}))\nopen('small.svg', 'w').write('<svg xmlns=\"http://www.w3.org/2000/svg\"/>')"),
    )
    .await;
    let files = files_of(&body);
    assert_eq!(files.len(), 2, "{body}");
    assert_eq!(files[0]["name"], "big.png");
    assert!(files[0]["size"].as_u64().unwrap() > MAX_IMAGE_BYTES);
    assert!(files[0].get("content_base64").is_none());
    assert_eq!(
        files[0]["skipped"],
        format!("over the limit of {MAX_IMAGE_BYTES} bytes of images per run")
    );
    assert_eq!(
        (&files[1]["name"], &files[1]["mime"]),
        (&json!("small.svg"), &json!("image/svg+xml"))
    );
    assert!(files[1]["content_base64"].is_string());
    server.stop().await;
}

#[tokio::test]
#[ignore = "needs root: the full sandbox"]
async fn no_images_after_a_limit_or_in_test_runs() {
    if !testkit::root_or_skip("the full sandbox") {
        return;
    }
    let server = common::start(ServerConfig::default(), Backend::Sqlite).await;
    let body = run(
        &server,
        json!({"language": "python", "code": format!("{WRITE_PNG}\nopen('plot.png', 'wb').write(png(8, 8))\nwhile True: pass"),
               "limits": {"cpu_ms": 300}}),
    )
    .await;
    assert_eq!(body["status"], "time_limit", "{body}");
    assert_eq!(body["run"]["files"], json!([]), "{body}");

    let body = run(
        &server,
        json!({"language": "python", "code": format!("{WRITE_PNG}\nopen('plot.png', 'wb').write(png(8, 8))\nprint(1)"),
               "tests": [{"expected_output": "1"}]}),
    )
    .await;
    assert_eq!(body["tests"][0]["verdict"], "accepted", "{body}");
    assert!(body["tests"][0]["run"].get("files").is_none(), "{body}");
    server.stop().await;
}
