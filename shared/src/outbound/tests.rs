//! The network policy's refusals and the `Retry-After` forms.

use super::*;

fn refused(policy: &NetworkPolicy, url: &str) -> bool {
    policy.check_url(&reqwest::Url::parse(url).unwrap()).is_err()
}

#[test]
fn forbidden_addresses() {
    let p = NetworkPolicy { allow_http: true, ..Default::default() };
    for url in [
        "http://169.254.169.254/latest/meta-data",
        "http://127.0.0.1:8080/",
        "http://10.1.2.3/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "http://[::1]/",
        "http://[::ffff:10.0.0.1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://[fd00::1]/",
        "http://[fe80::1]/",
        "http://198.18.0.1/",
        "http://198.19.255.254/",
        "http://192.0.0.8/",
        "http://192.0.2.1/",
        "http://240.0.0.1/",
        "http://255.255.255.255/",
        "http://[::a9fe:a9fe]/",
        "http://[::169.254.169.254]/",
        "http://[::7f00:1]/",
        "http://[2002:a9fe:a9fe::1]/",
        "http://[2002:7f00:1::]/",
        "http://[64:ff9b::10.0.0.1]/",
        "http://[64:ff9b:1:a9fe:a9:fe00::]/",
        "http://[fec0::1]/",
        "http://[2001:db8::1]/",
        // The same loopback and metadata addresses in decimal, octal and hex.
        "http://2130706433/",
        "http://0177.0.0.1/",
        "http://0x7f.0.0.1/",
        "http://0x7f000001/",
        "http://127.1/",
        "http://2852039166/",
        "http://0xa9.0xfe.0xa9.0xfe/",
    ] {
        assert!(refused(&p, url), "{url} must be refused");
    }
    assert!(!refused(&p, "http://93.184.215.14/"));
    // The embedded forms of a public address are judged by it, so they pass.
    for url in ["http://[2002:5db8:d70e::1]/", "http://[64:ff9b::93.184.215.14]/", "http://[64:ff9b:1:5db8:d7:e00::]/"]
    {
        assert!(!refused(&p, url), "{url} embeds a public address");
    }
    assert!(!refused(&p, "https://example.com/hooks"));
}

#[test]
fn urls_of_this_server_are_recognised() {
    let u = |s: &str| reqwest::Url::parse(s).unwrap();
    let own = u("http://127.0.0.1:8080");
    for same in
        ["http://127.0.0.1:8080/in/src_1", "http://localhost:8080/x", "http://[::1]:8080/", "http://0.0.0.0:8080/"]
    {
        assert!(points_at(&u(same), &own), "{same}");
    }
    for other in ["http://127.0.0.1:9000/", "https://127.0.0.1/", "http://example.com:8080/"] {
        assert!(!points_at(&u(other), &own), "{other}");
    }
    let api = u("https://abc.execute-api.us-east-1.amazonaws.com");
    assert!(points_at(&u("https://ABC.execute-api.us-east-1.amazonaws.com/in/src_1"), &api));
    assert!(!points_at(&u("https://abd.execute-api.us-east-1.amazonaws.com/in/src_1"), &api));
}

#[test]
fn https_only_unless_allowed() {
    let p = NetworkPolicy::default();
    assert!(refused(&p, "http://example.com/"));
    assert!(refused(&p, "ftp://example.com/"));
    assert!(!refused(&p, "https://example.com/"));
}

#[test]
fn loopback_and_allow_list() {
    let p = NetworkPolicy { allow_http: true, allow_loopback: true, allow: vec!["10.0.0.0/8".parse().unwrap()] };
    assert!(!refused(&p, "http://127.0.0.1:9000/"));
    assert!(!refused(&p, "http://[::1]:9000/"));
    assert!(!refused(&p, "http://10.9.9.9/"));
    assert!(refused(&p, "http://169.254.169.254/"), "metadata stays refused with loopback allowed");
    assert!(refused(&p, "http://192.168.0.1/"));
    assert!("10.0.0.0/33".parse::<IpNet>().is_err());
}

#[test]
fn retry_after_forms() {
    let now = chrono::DateTime::parse_from_rfc3339("2015-10-21T07:27:00Z").unwrap().with_timezone(&chrono::Utc);
    assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
    assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now), Some(Duration::from_secs(60)));
    assert_eq!(parse_retry_after("soon", now), None);
}
