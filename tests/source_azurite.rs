//! The Azure blob source against a real Azurite (see `support/azurite.rs`), and its retry and
//! resume logic against a small scripted HTTP server that misbehaves on purpose.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failed test.

mod support;

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use base64::Engine as _;
use export_repair::source::{
    BlobRef, BlobSource, ReadConditions, SourceError,
    azure::{AzureBlobSource, AzureCredential, AzureSourceConfig, RetrySettings},
};
use support::azurite::{self, ACCOUNT, Azurite, KEY};

/// Deterministic bytes that differ at every offset of interest.
fn data(len: usize, seed: u8) -> Vec<u8> {
    let mut x: u32 = 0x9E37_79B9 ^ u32::from(seed);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn fast_retry() -> RetrySettings {
    RetrySettings {
        max_attempts: 4,
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        max_retry_after: Duration::from_secs(3),
        response_timeout: Duration::from_secs(5),
        read_timeout: Duration::from_secs(5),
    }
}

fn key_source(azurite: &Azurite) -> AzureBlobSource {
    AzureBlobSource::new(AzureSourceConfig {
        endpoint: Some(azurite.endpoint()),
        retry: fast_retry(),
        ..AzureSourceConfig::new(ACCOUNT, AzureCredential::AccountKey(KEY.into()))
    })
    .unwrap()
}

fn blob(path: &str) -> BlobRef {
    BlobRef::parse(path, None).unwrap()
}

const NONE: ReadConditions = ReadConditions {
    if_unmodified_since: None,
    if_match: None,
};

#[tokio::test]
async fn account_key_ranged_reads_are_byte_exact() {
    let Some(az) = azurite::shared() else { return };
    az.create_container("ranges").await;
    let content = data(3 * 1024 * 1024 + 123, 1);
    let name = "dir/sub dir/ünï cödé #1.bin";
    az.put_block_blob("ranges", name, &content, None, &[]).await;
    let source = key_source(az);
    let b = blob(&format!("ranges/{name}"));
    for (offset, length) in [
        (0u64, 1u64),
        (4096, 2 * 1024 * 1024),
        (65536, 65536),
        (1_000_003, 2_000_000),
        (content.len() as u64 - 1, 1),
        (0, content.len() as u64),
    ] {
        let got = source.read_range(&b, offset, length, &NONE).await.unwrap();
        let (start, end) = (offset as usize, (offset + length) as usize);
        assert_eq!(got.len(), end - start, "length of [{offset}, +{length})");
        assert!(
            got[..] == content[start..end],
            "bytes of [{offset}, +{length})"
        );
    }
    assert!(source.read_range(&b, 5, 0, &NONE).await.unwrap().is_empty());

    // Past the end: the blob's real length is reported.
    let len = content.len() as u64;
    let err = source
        .read_range(&b, len - 10, 20, &NONE)
        .await
        .unwrap_err();
    assert!(
        matches!(err, SourceError::OutOfRange { available: Some(n), offset, .. } if n == len && offset == len - 10),
        "{err:?}"
    );
    let err = source.read_range(&b, len, 1, &NONE).await.unwrap_err();
    assert!(matches!(err, SourceError::OutOfRange { .. }), "{err:?}");
}

#[tokio::test]
async fn page_blob_reads_written_pages_and_zero_holes() {
    let Some(az) = azurite::shared() else { return };
    az.create_container("pages").await;
    let first = data(1024, 2);
    let second = data(4096, 3);
    az.put_page_blob("pages", "disk.vhd", 65536, &[(0, &first), (32768, &second)])
        .await;
    let source = key_source(az);
    let b = blob("pages/disk.vhd");
    let got = source
        .read_range(&b, 512, 32768 + 1024 - 512, &NONE)
        .await
        .unwrap();
    assert_eq!(&got[..512], &first[512..]);
    assert!(
        got[512..32768 - 512].iter().all(|&x| x == 0),
        "the hole reads as zeros"
    );
    assert_eq!(&got[32768 - 512..], &second[..1024]);
    let props = source.properties(&b, &NONE).await.unwrap();
    assert_eq!(props.content_length, 65536);
}

/// A SAS past its expiry, or not valid yet, is refused as credentials saying so from its own
/// times, not only with the service's "AuthorizationFailure".
///
/// Seen failing: "AuthorizationFailure: Server failed to authenticate the request…", nothing
/// saying the SAS had expired.
#[tokio::test]
async fn a_sas_out_of_its_time_is_refused_saying_so() {
    let Some(az) = azurite::shared() else { return };
    az.create_container("sastime").await;
    az.put_block_blob("sastime", "a.bin", b"abc", None, &[])
        .await;
    let now = time::OffsetDateTime::now_utc();
    let hours = time::Duration::hours;
    let cases = [
        (now - hours(3), now - hours(2), "the SAS expired at"),
        (now + hours(2), now + hours(3), "the SAS is valid only from"),
    ];
    for (start, expiry, says) in cases {
        let sas = azurite::container_sas_between("sastime", "r", start, expiry);
        let source = AzureBlobSource::new(AzureSourceConfig {
            endpoint: Some(az.endpoint()),
            retry: fast_retry(),
            ..AzureSourceConfig::new(ACCOUNT, AzureCredential::Sas(format!("sastime?{sas}")))
        })
        .unwrap();
        let error = source
            .read_range(&blob("sastime/a.bin"), 0, 3, &NONE)
            .await
            .unwrap_err();
        assert!(
            matches!(error, SourceError::Auth { .. }) && error.to_string().contains(says),
            "{error}"
        );
    }
}

#[tokio::test]
async fn container_sas_in_both_forms() {
    let Some(az) = azurite::shared() else { return };
    az.create_container("sascont").await;
    az.create_container("othercont").await;
    let content = data(200_000, 4);
    az.put_block_blob("sascont", "a/b.bin", &content, None, &[])
        .await;
    az.put_block_blob("othercont", "x", b"x", None, &[]).await;
    let sas = azurite::container_sas("sascont", "rl");
    let sig = sas.split("sig=").nth(1).unwrap().to_owned();

    // v1's `/csas:<container>?<sas>` with an explicit endpoint.
    let v1 = AzureBlobSource::new(AzureSourceConfig {
        endpoint: Some(az.endpoint()),
        retry: fast_retry(),
        ..AzureSourceConfig::new(ACCOUNT, AzureCredential::Sas(format!("sascont?{sas}")))
    })
    .unwrap();
    // A full container URL; the endpoint comes from it.
    let url = AzureBlobSource::new(AzureSourceConfig {
        endpoint: None,
        retry: fast_retry(),
        ..AzureSourceConfig::new(
            ACCOUNT,
            AzureCredential::Sas(format!("{}/sascont?{sas}", az.endpoint())),
        )
    })
    .unwrap();
    assert_eq!(
        url.describe(),
        format!("Azure {} (SAS for container sascont)", az.endpoint())
    );
    for source in [&v1, &url] {
        let b = blob("sascont/a/b.bin");
        let got = source.read_range(&b, 1000, 150_000, &NONE).await.unwrap();
        assert!(got[..] == content[1000..151_000]);
        let props = source.properties(&b, &NONE).await.unwrap();
        assert_eq!(props.content_length, 200_000);
        let err = source
            .read_range(&blob("othercont/x"), 0, 1, &NONE)
            .await
            .unwrap_err();
        assert!(matches!(err, SourceError::NotCovered { .. }), "{err:?}");
        assert!(!format!("{source:?}").contains(&sig));
    }

    // A tampered signature is refused as credentials, and the message does not leak it.
    let bad_sig = "AAAA".to_owned() + &sig[4..];
    let bad = AzureBlobSource::new(AzureSourceConfig {
        endpoint: Some(az.endpoint()),
        retry: fast_retry(),
        ..AzureSourceConfig::new(
            ACCOUNT,
            AzureCredential::Sas(format!("sascont?{}", sas.replace(&sig, &bad_sig))),
        )
    })
    .unwrap();
    let err = bad
        .read_range(&blob("sascont/a/b.bin"), 0, 10, &NONE)
        .await
        .unwrap_err();
    assert!(
        matches!(err, SourceError::Auth { status: 403, .. }),
        "{err:?}"
    );
    assert!(!err.to_string().contains(&bad_sig) && !format!("{err:?}").contains(&bad_sig));
}

#[tokio::test]
async fn snapshot_reads_the_exported_version_after_an_overwrite() {
    let Some(az) = azurite::shared() else { return };
    az.create_container("snaps").await;
    let v1 = data(100_000, 5);
    let v2 = data(70_000, 6);
    az.put_block_blob(
        "snaps",
        "f.bin",
        &v1,
        Some("application/x-v1"),
        &[("ver", "1")],
    )
    .await;
    let snapshot = az.create_snapshot("snaps", "f.bin").await;
    az.put_block_blob(
        "snaps",
        "f.bin",
        &v2,
        Some("application/x-v2"),
        &[("ver", "2")],
    )
    .await;

    let source = key_source(az);
    let base = blob("snaps/f.bin");
    let snap = BlobRef::parse("snaps/f.bin", Some(&snapshot)).unwrap();
    let got = source
        .read_range(&snap, 50_000, 50_000, &NONE)
        .await
        .unwrap();
    assert!(got[..] == v1[50_000..], "snapshot bytes are v1");
    let got = source.read_range(&base, 0, 70_000, &NONE).await.unwrap();
    assert!(got[..] == v2[..], "base bytes are v2");

    let props = source.properties(&snap, &NONE).await.unwrap();
    assert_eq!(props.content_length, 100_000);
    assert_eq!(props.content_type.as_deref(), Some("application/x-v1"));
    assert_eq!(props.metadata, vec![("ver".to_owned(), "1".to_owned())]);

    // v2 is shorter: reading v1's tail from the base blob is out of range, not mixed bytes.
    let err = source
        .read_range(&base, 80_000, 10, &NONE)
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::OutOfRange { .. }), "{err:?}");

    let missing = BlobRef::parse("snaps/f.bin", Some("2001-01-01T00:00:00.0000000Z")).unwrap();
    let err = source.read_range(&missing, 0, 1, &NONE).await.unwrap_err();
    assert!(matches!(err, SourceError::NotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn failed_conditions_mean_changed_since_export() {
    let Some(az) = azurite::shared() else { return };
    az.create_container("conds").await;
    let content = data(10_000, 7);
    az.put_block_blob("conds", "c.bin", &content, None, &[])
        .await;
    let source = key_source(az);
    let b = blob("conds/c.bin");
    let props = source.properties(&b, &NONE).await.unwrap();
    let modified = props.last_modified.expect("Last-Modified");
    let etag = props.etag.clone().expect("ETag");

    // The export-time state still holds: reads succeed.
    let at_export = ReadConditions {
        if_unmodified_since: Some(modified),
        if_match: Some(etag.clone()),
    };
    let got = source.read_range(&b, 100, 200, &at_export).await.unwrap();
    assert!(got[..] == content[100..300]);
    assert_eq!(source.properties(&b, &at_export).await.unwrap(), props);

    // Modified after the export time → changed.
    let before = ReadConditions {
        if_unmodified_since: Some(modified - time::Duration::seconds(60)),
        if_match: None,
    };
    let err = source.read_range(&b, 0, 10, &before).await.unwrap_err();
    assert_eq!(err.to_string(), "blob conds/c.bin changed since export");
    assert!(matches!(
        source.properties(&b, &before).await,
        Err(SourceError::Changed { .. })
    ));

    // The same moments written with an offset from UTC, as RFC 3339 allows a copy log to:
    // the same pins. (The offset was dropped: +02:00 pinned two hours late, -05:00 refused an
    // unchanged blob.)
    let east = time::UtcOffset::from_hms(2, 0, 0).unwrap();
    let west = time::UtcOffset::from_hms(-5, 0, 0).unwrap();
    let at_export_west = ReadConditions {
        if_unmodified_since: Some(modified.to_offset(west)),
        if_match: None,
    };
    let got = source.read_range(&b, 0, 10, &at_export_west).await.unwrap();
    assert!(got[..] == content[..10]);
    let before_east = ReadConditions {
        if_unmodified_since: Some((modified - time::Duration::seconds(60)).to_offset(east)),
        if_match: None,
    };
    let err = source
        .read_range(&b, 0, 10, &before_east)
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::Changed { .. }), "{err:?}");

    // Another ETag → changed.
    let other_etag = ReadConditions {
        if_unmodified_since: None,
        if_match: Some("\"0x8D000000DEADBEE\"".into()),
    };
    let err = source.read_range(&b, 0, 10, &other_etag).await.unwrap_err();
    assert!(
        matches!(err, SourceError::Changed { ref blob } if blob == "conds/c.bin"),
        "{err:?}"
    );

    // After an overwrite, the export-time ETag no longer matches.
    az.put_block_blob("conds", "c.bin", &data(10_000, 8), None, &[])
        .await;
    let err = source.read_range(&b, 0, 10, &at_export).await.unwrap_err();
    assert!(matches!(err, SourceError::Changed { .. }), "{err:?}");
}

#[tokio::test]
async fn wrong_key_is_auth_at_once_without_retries() {
    let Some(az) = azurite::shared() else { return };
    az.create_container("authc").await;
    az.put_block_blob("authc", "a", b"abc", None, &[]).await;
    let wrong_key = base64::engine::general_purpose::STANDARD.encode([7u8; 64]);
    let source = AzureBlobSource::new(AzureSourceConfig {
        endpoint: Some(az.endpoint()),
        // A retry would wait at least 30 s (the cap of `fast_retry` would make it 0.1 s).
        retry: RetrySettings {
            initial_backoff: Duration::from_secs(60),
            max_backoff: Duration::from_secs(60),
            ..fast_retry()
        },
        ..AzureSourceConfig::new(ACCOUNT, AzureCredential::AccountKey(wrong_key.clone()))
    })
    .unwrap();
    let started = Instant::now();
    let err = source
        .read_range(&blob("authc/a"), 0, 3, &NONE)
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    let SourceError::Auth {
        status, message, ..
    } = &err
    else {
        panic!("expected Auth, got {err:?}")
    };
    assert_eq!(*status, 403);
    // The service's <Message>, first line only (Azure says AuthenticationFailed, Azurite
    // AuthorizationFailure).
    assert!(
        message.contains("Server failed to authenticate the request.") && !message.contains('<'),
        "{message}"
    );
    assert!(!format!("{err} {err:?}").contains(&wrong_key));
    let err = source
        .properties(&blob("authc/a"), &NONE)
        .await
        .unwrap_err();
    assert!(
        matches!(err, SourceError::Auth { status: 403, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn properties_and_metadata_round_trip() {
    let Some(az) = azurite::shared() else { return };
    az.create_container("props").await;
    let content = data(5000, 9);
    az.put_block_blob(
        "props",
        "pictures/city/redmond.jpg",
        &content,
        Some("image/jpeg"),
        &[("Author", "ada"), ("dataset", "city 2012")],
    )
    .await;
    let source = key_source(az);
    let b = blob("props/pictures/city/redmond.jpg");
    let props = source.properties(&b, &NONE).await.unwrap();
    assert_eq!(props.content_length, 5000);
    assert_eq!(props.content_type.as_deref(), Some("image/jpeg"));
    // Names arrive lower-cased: HTTP header names are case-insensitive and the transport
    // normalises them (a known limit, see `AzureBlobSource::properties`).
    assert_eq!(
        props.metadata,
        vec![
            ("author".to_owned(), "ada".to_owned()),
            ("dataset".to_owned(), "city 2012".to_owned())
        ]
    );
    let md5 = base64::engine::general_purpose::STANDARD
        .encode(export_repair::format::Md5::of(&content).0);
    assert_eq!(props.content_md5.as_deref(), Some(md5.as_str()));
    assert!(
        props.etag.as_deref().is_some_and(|e| e.starts_with('"')),
        "{:?}",
        props.etag
    );
    let age = time::OffsetDateTime::now_utc() - props.last_modified.unwrap();
    assert!(age.whole_seconds().abs() < 300, "last modified {age} ago");

    az.set_metadata("props", "pictures/city/redmond.jpg", &[("author", "grace")])
        .await;
    let after = source.properties(&b, &NONE).await.unwrap();
    assert_eq!(
        after.metadata,
        vec![("author".to_owned(), "grace".to_owned())]
    );
    assert_ne!(after.etag, props.etag, "metadata changes the ETag");
}

#[tokio::test]
async fn missing_blob_or_container_is_not_found() {
    let Some(az) = azurite::shared() else { return };
    az.create_container("exists").await;
    let source = key_source(az);
    for path in ["exists/nope.bin", "nosuchcontainer/x"] {
        let err = source
            .read_range(&blob(path), 0, 1, &NONE)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, SourceError::NotFound { blob } if blob == path),
            "{err:?}"
        );
        let err = source.properties(&blob(path), &NONE).await.unwrap_err();
        assert!(matches!(err, SourceError::NotFound { .. }), "{err:?}");
    }
    assert_eq!(
        source.describe(),
        format!("Azure {} (account key)", az.endpoint())
    );
}

// ---------------------------------------------------------------------------------------------
// Faults, from a scripted server: what Azurite never does on its own.

/// What the scripted server does with one request.
#[derive(Clone, Debug)]
enum Step {
    /// Serve the requested range, but send only `n` bytes of the body and close.
    Truncate(usize),
    /// Announce a body longer than the range, send the range whole, and close.
    Overpromise,
    /// Answer with this status (and `Retry-After` seconds, if given), empty body.
    Status(u16, Option<u32>),
    /// Accept and say nothing for this long.
    Stall(Duration),
    /// Serve the requested range correctly.
    Serve,
}

/// The `Range` and `If-Match` headers of one request.
type Seen = (String, Option<String>);

struct Scripted {
    port: u16,
    /// The `Range` and `If-Match` headers of every request, in order.
    seen: Arc<Mutex<Vec<Seen>>>,
}

/// Serves `content` as blob `c1x/f` with ETag "E1", following `script` then `Serve`.
fn scripted_server(content: Vec<u8>, script: Vec<Step>) -> Scripted {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen_by_server = seen.clone();
    let script = Arc::new(Mutex::new(script.into_iter()));
    std::thread::spawn(move || {
        for stream in listener.incoming().take(32) {
            let Ok(stream) = stream else { return };
            let content = content.clone();
            let seen = seen_by_server.clone();
            let script = script.clone();
            // A thread per connection, so that a stalled one does not hold up the retry.
            std::thread::spawn(move || {
                // One connection may carry several requests (keep-alive).
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut stream = stream;
                while let Some(headers) = read_head(&mut reader) {
                    let range = header_value(&headers, "range").unwrap_or_default();
                    seen.lock()
                        .unwrap()
                        .push((range.clone(), header_value(&headers, "if-match")));
                    let step = script.lock().unwrap().next().unwrap_or(Step::Serve);
                    if !answer(&mut stream, &content, &range, step) {
                        break;
                    }
                }
            });
        }
    });
    Scripted { port, seen }
}

fn read_head(reader: &mut BufReader<TcpStream>) -> Option<Vec<String>> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end().to_owned();
        if line.is_empty() {
            return Some(lines);
        }
        lines.push(line);
    }
}

fn header_value(lines: &[String], name: &str) -> Option<String> {
    lines.iter().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_owned())
    })
}

/// Writes the answer; false when the connection is to be closed.
fn answer(stream: &mut TcpStream, content: &[u8], range: &str, step: Step) -> bool {
    let (first, last) = range
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .map(|(a, b)| (a.parse::<usize>().unwrap(), b.parse::<usize>().unwrap()))
        .unwrap_or((0, content.len() - 1));
    let body = &content[first..=last.min(content.len() - 1)];
    let head = |status: &str, extra: &str, len: usize| {
        format!(
            "HTTP/1.1 {status}\r\nContent-Length: {len}\r\nETag: \"E1\"\r\n\
             Last-Modified: Tue, 18 Sep 2012 23:47:08 GMT\r\n\
             Content-Range: bytes {first}-{}/{}\r\n{extra}\r\n",
            first + body.len() - 1,
            content.len()
        )
    };
    match step {
        Step::Serve => {
            let ok = stream
                .write_all(head("206 Partial Content", "", body.len()).as_bytes())
                .and_then(|_| stream.write_all(body));
            ok.is_ok()
        }
        Step::Truncate(n) => {
            let _ = stream.write_all(head("206 Partial Content", "", body.len()).as_bytes());
            let _ = stream.write_all(&body[..n.min(body.len())]);
            let _ = stream.flush();
            let _ = stream.shutdown(std::net::Shutdown::Both);
            false
        }
        Step::Overpromise => {
            let _ = stream.write_all(head("206 Partial Content", "", body.len() + 10).as_bytes());
            let _ = stream.write_all(body);
            let _ = stream.flush();
            let _ = stream.shutdown(std::net::Shutdown::Both);
            false
        }
        Step::Status(code, retry_after) => {
            let extra = retry_after
                .map(|s| format!("Retry-After: {s}\r\n"))
                .unwrap_or_default();
            let text = format!(
                "HTTP/1.1 {code} Scripted\r\nContent-Length: 0\r\nx-ms-error-code: Scripted{code}\r\n{extra}\r\n"
            );
            stream.write_all(text.as_bytes()).is_ok()
        }
        Step::Stall(d) => {
            std::thread::sleep(d);
            let mut sink = [0u8; 1];
            let _ = stream.read(&mut sink);
            false
        }
    }
}

fn scripted_source(server: &Scripted, retry: RetrySettings) -> AzureBlobSource {
    AzureBlobSource::new(AzureSourceConfig {
        endpoint: Some(format!("http://127.0.0.1:{}/acct", server.port)),
        retry,
        ..AzureSourceConfig::new(
            "acct",
            AzureCredential::Sas("c1x?sv=2018-11-09&sr=c&sp=r&sig=c2VjcmV0".into()),
        )
    })
    .unwrap()
}

#[tokio::test]
async fn a_body_that_breaks_is_resumed_from_where_it_stopped() {
    let content = data(100_000, 10);
    let server = scripted_server(
        content.clone(),
        vec![Step::Truncate(30_000), Step::Truncate(20_000)],
    );
    let source = scripted_source(&server, fast_retry());
    let got = source
        .read_range(&blob("c1x/f"), 1000, 90_000, &NONE)
        .await
        .unwrap();
    assert!(got[..] == content[1000..91_000], "resumed bytes are exact");
    let seen = server.seen.lock().unwrap().clone();
    let ranges: Vec<&str> = seen.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(
        ranges,
        ["bytes=1000-90999", "bytes=31000-90999", "bytes=51000-90999"]
    );
    // The continuations are pinned to the first answer's version.
    assert_eq!(seen[0].1, None);
    assert_eq!(seen[1].1.as_deref(), Some("\"E1\""));
    assert_eq!(seen[2].1.as_deref(), Some("\"E1\""));
}

/// A body that breaks after its last byte (it announced more) needs nothing more.
///
/// Seen failing: the read went on for the bytes [end, end) and failed for good ("has no bytes
/// [91000, 91000)"), after every byte had come.
#[tokio::test]
async fn a_body_that_breaks_after_its_last_byte_is_whole() {
    let content = data(100_000, 12);
    let server = scripted_server(content.clone(), vec![Step::Overpromise]);
    let source = scripted_source(&server, fast_retry());
    let got = source
        .read_range(&blob("c1x/f"), 1000, 90_000, &NONE)
        .await
        .unwrap();
    assert!(got[..] == content[1000..91_000]);
    let seen = server.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
}

#[tokio::test]
async fn server_errors_are_retried_honouring_retry_after() {
    let content = data(5000, 11);
    let server = scripted_server(
        content.clone(),
        vec![Step::Status(503, Some(1)), Step::Status(500, None)],
    );
    let source = scripted_source(&server, fast_retry());
    let started = Instant::now();
    let got = source
        .read_range(&blob("c1x/f"), 0, 5000, &NONE)
        .await
        .unwrap();
    assert!(got[..] == content[..]);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was honoured"
    );
    assert_eq!(server.seen.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn exhausted_retries_are_transient_and_403_is_not_retried() {
    let server = scripted_server(data(100, 12), vec![Step::Status(500, None); 10]);
    let source = scripted_source(&server, fast_retry());
    let err = source
        .read_range(&blob("c1x/f"), 0, 10, &NONE)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SourceError::Transient { attempts: 4, last } if last.contains("500")),
        "{err:?}"
    );
    assert_eq!(server.seen.lock().unwrap().len(), 4);

    let server = scripted_server(data(100, 12), vec![Step::Status(403, None); 10]);
    let source = scripted_source(&server, fast_retry());
    let err = source
        .read_range(&blob("c1x/f"), 0, 10, &NONE)
        .await
        .unwrap_err();
    assert!(
        matches!(err, SourceError::Auth { status: 403, .. }),
        "{err:?}"
    );
    assert_eq!(server.seen.lock().unwrap().len(), 1, "403 is never retried");
    assert!(!err.to_string().contains("c2VjcmV0"));
}

/// A wait of seconds before the storage is asked again is told to whoever started the call
/// (a run says it as a warning), naming what failed and when it tries again; short waits are
/// not told.
///
/// Seen failing: a storage throttling with `Retry-After` kept the run silent for minutes, the
/// waits only in the log's DEBUG lines.
#[tokio::test]
async fn a_long_wait_before_a_retry_is_told() {
    use export_repair::source::{RetryNotice, retrying_until};
    let content = data(100, 21);
    let script = vec![Step::Status(503, None), Step::Status(503, Some(3))];
    let server = scripted_server(content.clone(), script);
    let source = scripted_source(&server, fast_retry());
    let told = Arc::new(Mutex::new(Vec::new()));
    let notice: RetryNotice = {
        let told = Arc::clone(&told);
        Arc::new(move |message| told.lock().unwrap().push(message))
    };
    let stop = tokio_util::sync::CancellationToken::new();
    let target = blob("c1x/f");
    let read = source.read_range(&target, 0, 10, &NONE);
    let got = retrying_until(stop, Some(notice), read).await.unwrap();
    assert!(got[..] == content[..10]);
    let told = told.lock().unwrap();
    assert_eq!(told.len(), 1, "only the wait of 3 s: {told:?}");
    assert!(
        told[0].contains("503") && told[0].contains("trying again in 3 s (attempt 3 of 4)"),
        "{told:?}"
    );
}

#[tokio::test]
async fn a_stalled_server_times_out_and_is_retried() {
    let content = data(2000, 13);
    // Timeouts with room for a slow machine's retry, far short of the stall.
    let server = scripted_server(content.clone(), vec![Step::Stall(Duration::from_secs(30))]);
    let source = scripted_source(
        &server,
        RetrySettings {
            response_timeout: Duration::from_secs(2),
            read_timeout: Duration::from_secs(2),
            ..fast_retry()
        },
    );
    let started = Instant::now();
    let got = source
        .read_range(&blob("c1x/f"), 10, 1000, &NONE)
        .await
        .unwrap();
    assert!(got[..] == content[10..1010]);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "did not wait for the stall"
    );
    assert_eq!(server.seen.lock().unwrap().len(), 2);
}

#[test]
fn an_own_azurite_is_stopped_on_drop() {
    let Some(az) = Azurite::start() else {
        support::skip::skip(azurite::MISSING);
        return;
    };
    let port = az.port();
    assert!(TcpStream::connect(("127.0.0.1", port)).is_ok());
    drop(az);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(Instant::now() < deadline, "Azurite still listens on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
