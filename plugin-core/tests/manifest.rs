//! Manifest parsing and validation, through the public API, on real files.

#![allow(clippy::unwrap_used)] // test helpers panic on failure by design

use std::path::{Path, PathBuf};
use std::time::Duration;

use plugin_core::manifest::limits;
use plugin_core::{ByteSize, FsMode, Manifest, ManifestErrorKind};
use serde_json::json;

const WASM: &str = "name: echo\nversion: 1.0.0\nruntime: wasm\nwasm:\n  module: echo.wasm\n";
const GRPC: &str = "name: echo\nruntime: grpc\ngrpc:\n  binary: ./echo\n";

/// Parses `text` and returns the error as `(field, message)`.
fn field_error(text: &str) -> (String, String) {
    let err = Manifest::parse(text).expect_err("manifest should be refused");
    match err.kind() {
        ManifestErrorKind::Field { field, message } => (field.clone(), message.clone()),
        other => panic!("expected a field error, got {other}"),
    }
}

/// A wasm manifest with `permissions` indented under `wasm:`.
fn wasm_with(extra: &str) -> String {
    let indented: String = extra.lines().map(|l| format!("  {l}\n")).collect();
    format!("{WASM}{indented}")
}

#[test]
fn a_minimal_manifest_of_each_runtime_loads() {
    let wasm = Manifest::parse(WASM).unwrap();
    assert_eq!(
        (wasm.name.as_str(), wasm.version.as_str()),
        ("echo", "1.0.0")
    );
    assert_eq!(wasm.runtime, "wasm");
    assert_eq!(wasm.wasm.unwrap().module, PathBuf::from("echo.wasm"));

    let grpc = Manifest::parse(GRPC).unwrap();
    assert_eq!(grpc.runtime, "grpc");
    let section = grpc.grpc.unwrap();
    assert_eq!(section.binary, PathBuf::from("./echo"));
    assert!(section.args.is_empty() && section.checksum.is_none());
}

#[test]
fn required_field_rules() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "runtime: wasm\nwasm: {module: a.wasm}",
            "name",
            "is required",
        ),
        (
            "name: ''\nruntime: wasm\nwasm: {module: a.wasm}",
            "name",
            "must not be empty",
        ),
        (
            "name: echo\nwasm: {module: a.wasm}",
            "runtime",
            "is required",
        ),
        (
            "name: echo\nruntime: lua\nwasm: {module: a.wasm}",
            "wasm",
            "is not used by runtime lua; remove it",
        ),
        (
            "name: echo\nruntime: lua\nluaa: {script: a.lua}",
            "luaa",
            "unknown field `luaa`",
        ),
        (
            "name: echo\nruntime: provides",
            "runtime",
            "\"provides\" names a manifest field, not a runtime",
        ),
        (
            "name: echo\nruntime: 'lua jit'",
            "runtime",
            "is not a runtime name",
        ),
        (
            "name: echo\nruntime: grpc\ngrpc: {binary: x, timeouts: {call: 0s}}",
            "grpc.timeouts.call",
            "out of range",
        ),
        (
            "name: echo\nruntime: grpc\ngrpc: {binary: x, timeouts: {start: 1h}}",
            "grpc.timeouts.start",
            "at most 10m",
        ),
        (
            "name: echo\nruntime: grpc",
            "grpc",
            "is required for runtime grpc",
        ),
        (
            "name: echo\nruntime: wasm",
            "wasm",
            "is required for runtime wasm",
        ),
        (
            "name: echo\nruntime: wasm\nwasm:",
            "wasm",
            "is required for runtime wasm",
        ),
        (
            "name: echo\nruntime: wasm\nwasm: {}",
            "wasm.module",
            "is required",
        ),
        (
            "name: echo\nruntime: grpc\ngrpc: {args: [a]}",
            "grpc.binary",
            "is required",
        ),
        (
            "name: echo\nruntime: grpc\ngrpc: {binary: ''}",
            "grpc.binary",
            "must not be empty",
        ),
        (
            "name: echo\nruntime: wasm\nwasm: {module: ''}",
            "wasm.module",
            "must not be empty",
        ),
        (
            "name: echo\nruntime: grpc\ngrpc: {binary: x}\nwasm: {module: y}",
            "wasm",
            "is not used by runtime grpc; remove it",
        ),
        (
            "name: echo\nruntime: wasm\ngrpc: {binary: x}\nwasm: {module: y}",
            "grpc",
            "is not used by runtime wasm; remove it",
        ),
    ];
    for (text, field, message) in cases {
        let (got_field, got_message) = field_error(text);
        assert_eq!(&got_field, field, "{text}");
        assert!(got_message.contains(message), "{text}: {got_message}");
    }
}

#[test]
fn plugin_names_are_safe_identifiers() {
    for good in ["echo", "hello-wasm", "a", "v1.2_x", &"n".repeat(64)] {
        let text = WASM.replace("name: echo", &format!("name: {good:?}"));
        Manifest::parse(&text).unwrap_or_else(|e| panic!("{good}: {e}"));
    }
    for bad in [
        "../etc",
        "has space",
        "-dash",
        ".hidden",
        "a/b",
        "émoji",
        &"n".repeat(65),
    ] {
        let text = WASM.replace("name: echo", &format!("name: {bad:?}"));
        let (field, message) = field_error(&text);
        assert_eq!(field, "name", "{bad}");
        assert!(message.contains("is not a plugin name"), "{bad}: {message}");
    }
}

#[test]
fn the_document_must_be_a_mapping() {
    assert_eq!(field_error("").0, "(document)");
    assert!(field_error("# only a comment\n").1.contains("is empty"));
    let (field, message) = field_error("- name: echo\n");
    assert_eq!(field, "(document)");
    assert!(message.contains("a mapping of fields"), "{message}");
}

#[test]
fn unknown_and_misspelt_fields_are_errors() {
    let (field, message) = field_error(&wasm_with("permissions:\n  memroy: {max: 1MiB}"));
    assert_eq!(field, "wasm.permissions.memroy");
    assert!(message.contains("unknown field `memroy`"), "{message}");

    let (field, message) = field_error(&format!("{WASM}homepage: x\n"));
    assert_eq!(field, "homepage");
    assert!(message.contains("unknown field `homepage`"), "{message}");
}

#[test]
fn defaults_are_applied() {
    let texts = [
        WASM.to_owned(),
        wasm_with("permissions:\npool:"),
        wasm_with("permissions: {memory: {}, execution: {}}\npool: {}"),
        wasm_with("permissions: {memory: , execution: , http: , filesystem: }"),
    ];
    for text in texts {
        let wasm = Manifest::parse(&text).unwrap().wasm.unwrap();
        let permissions = &wasm.permissions;
        assert_eq!(permissions.memory.max, limits::DEFAULT_MEMORY_MAX, "{text}");
        assert_eq!(permissions.memory.max, ByteSize::mib(64));
        assert_eq!(permissions.execution.timeout, Duration::from_secs(30));
        assert!(permissions.http.is_empty() && permissions.filesystem.is_empty());
        assert_eq!(wasm.pool.max_instances, 4);
        assert_eq!(wasm.pool.wait_timeout, Duration::from_secs(5));
    }
    // Setting one field of a section keeps the defaults of the others.
    let wasm = Manifest::parse(&wasm_with("pool: {max_instances: 9}"))
        .unwrap()
        .wasm
        .unwrap();
    assert_eq!(
        (wasm.pool.max_instances, wasm.pool.wait_timeout),
        (9, Duration::from_secs(5))
    );

    let manifest = Manifest::parse(WASM).unwrap();
    assert!(!manifest.provides.module && manifest.provides.abilities.is_empty());
    assert!(manifest.config_schema.is_none() && manifest.description.is_empty());
}

#[test]
fn sizes_parse_and_are_range_checked() {
    let good = [
        ("64MB", 64_000_000),
        ("64MiB", 64 << 20),
        ("512KB", 512_000),
        ("512 KiB", 512 << 10),
        ("4GiB", 4 << 30),
        ("65536", 65_536),
    ];
    for (text, bytes) in good {
        let manifest = Manifest::parse(&wasm_with(&format!(
            "permissions: {{memory: {{max: {text}}}}}"
        )))
        .unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(
            manifest.wasm.unwrap().permissions.memory.max.bytes(),
            bytes,
            "{text}"
        );
    }

    let err = Manifest::parse(&wasm_with("permissions:\n  memory:\n    max: 64XB")).unwrap_err();
    assert_eq!(err.field(), Some("wasm.permissions.memory.max"));
    assert!(
        err.to_string()
            .starts_with("<input>: wasm.permissions.memory.max: \"64XB\" is not a size"),
        "{err}"
    );
    for (bad, expect) in [
        ("lots", "is not a size"),
        ("-1MB", "is not a size"),
        ("true", "is not a size"),
        ("32KB", "out of range"),
        ("5GiB", "out of range"),
        ("0", "out of range"),
    ] {
        let (field, message) = field_error(&wasm_with(&format!(
            "permissions: {{memory: {{max: {bad}}}}}"
        )));
        assert_eq!(field, "wasm.permissions.memory.max", "{bad}");
        assert!(message.contains(expect), "{bad}: {message}");
    }
}

#[test]
fn durations_parse_and_are_range_checked() {
    for (text, expected) in [("30s", 30), ("1m30s", 90), ("1m 30s", 90), ("24h", 86_400)] {
        let manifest = Manifest::parse(&wasm_with(&format!(
            "permissions: {{execution: {{timeout: {text}}}}}"
        )))
        .unwrap_or_else(|e| panic!("{text}: {e}"));
        let timeout = manifest.wasm.unwrap().permissions.execution.timeout;
        assert_eq!(timeout, Duration::from_secs(expected), "{text}");
    }
    let with_ms =
        Manifest::parse(&wasm_with("permissions: {execution: {timeout: 250ms}}")).unwrap();
    assert_eq!(
        with_ms.wasm.unwrap().permissions.execution.timeout,
        Duration::from_millis(250)
    );

    for (bad, expect) in [
        ("30", "unit is missing"),
        ("forever", "is not a duration"),
        ("0s", "out of range"),
        ("25h", "out of range"),
    ] {
        let (field, message) = field_error(&wasm_with(&format!(
            "permissions: {{execution: {{timeout: {bad}}}}}"
        )));
        assert_eq!(field, "wasm.permissions.execution.timeout", "{bad}");
        assert!(message.contains(expect), "{bad}: {message}");
    }

    let pool = Manifest::parse(&wasm_with("pool: {wait_timeout: 0s}")).unwrap();
    assert_eq!(pool.wasm.unwrap().pool.wait_timeout, Duration::ZERO);
    for (bad, expect) in [("2h", "out of range"), ("soon", "is not a duration")] {
        let (field, message) = field_error(&wasm_with(&format!("pool: {{wait_timeout: {bad}}}")));
        assert_eq!(field, "wasm.pool.wait_timeout", "{bad}");
        assert!(message.contains(expect), "{bad}: {message}");
    }
}

#[test]
fn pool_sizes_are_at_least_one() {
    for good in [1, 4, 1024] {
        let text = wasm_with(&format!("pool: {{max_instances: {good}}}"));
        assert_eq!(
            Manifest::parse(&text)
                .unwrap()
                .wasm
                .unwrap()
                .pool
                .max_instances,
            good
        );
    }
    for bad in ["0", "1025", "-1", "two"] {
        let (field, _) = field_error(&wasm_with(&format!("pool: {{max_instances: {bad}}}")));
        assert_eq!(field, "wasm.pool.max_instances", "{bad}");
    }
}

#[test]
fn filesystem_modes_are_read_or_readwrite() {
    let text = wasm_with(
        "permissions:\n  filesystem:\n    - {path: /data, mode: readwrite}\n    - {path: /etc/app, mode: read}\n    - {path: /srv}",
    );
    let modes: Vec<FsMode> = Manifest::parse(&text)
        .unwrap()
        .wasm
        .unwrap()
        .permissions
        .filesystem
        .iter()
        .map(|p| p.mode)
        .collect();
    assert_eq!(modes, [FsMode::ReadWrite, FsMode::Read, FsMode::Read]);

    let (field, message) = field_error(&wasm_with(
        "permissions:\n  filesystem:\n    - {path: /data, mode: read}\n    - {path: /tmp, mode: write}",
    ));
    assert_eq!(field, "wasm.permissions.filesystem[1].mode");
    assert!(
        message.contains("unknown variant `write`, expected `read` or `readwrite`"),
        "{message}"
    );

    let (field, _) = field_error(&wasm_with("permissions: {filesystem: [{path: ''}]}"));
    assert_eq!(field, "wasm.permissions.filesystem[0].path");
}

#[test]
fn http_hosts_are_host_patterns() {
    let text = wasm_with(
        "permissions:\n  http: [{host: api.example.com}, {host: '*.example.org'}, {host: '*'}]",
    );
    assert_eq!(
        Manifest::parse(&text)
            .unwrap()
            .wasm
            .unwrap()
            .permissions
            .http
            .len(),
        3
    );
    for (bad, expect) in [
        ("https://api.example.com", "is a URL"),
        ("api.example.com/v1", "is a URL"),
        ("''", "is not a host name"),
        ("'*.'", "is not a host name"),
        ("'a..b'", "is not a host name"),
        ("'ex ample.com'", "is not a host name"),
    ] {
        let (field, message) = field_error(&wasm_with(&format!(
            "permissions: {{http: [{{host: ok.com}}, {{host: {bad}}}]}}"
        )));
        assert_eq!(field, "wasm.permissions.http[1].host", "{bad}");
        assert!(message.contains(expect), "{bad}: {message}");
    }
    // A scheme and a port may narrow an entry; the scheme is http or https.
    let text = wasm_with("permissions:\n  http: [{host: 127.0.0.1, scheme: http, port: 8080}]");
    let http = Manifest::parse(&text)
        .unwrap()
        .wasm
        .unwrap()
        .permissions
        .http;
    assert_eq!(
        (http[0].scheme.as_deref(), http[0].port),
        (Some("http"), Some(8080))
    );
    let (field, message) = field_error(&wasm_with(
        "permissions: {http: [{host: a.com, scheme: ftp}]}",
    ));
    assert_eq!(field, "wasm.permissions.http[0].scheme");
    assert!(message.contains("write http or https"), "{message}");
    let (field, _) = field_error(&wasm_with(
        "permissions: {http: [{host: a.com, port: 70000}]}",
    ));
    assert_eq!(field, "wasm.permissions.http[0].port");
}

/// `wasm.permissions.network.connect`: TCP ports a component's
/// `wasi:sockets` may ask for, each a real port.
#[test]
fn wasm_network_asks_are_ports() {
    let text = wasm_with("permissions:\n  network: {connect: [6379, 443]}");
    let network = Manifest::parse(&text)
        .unwrap()
        .wasm
        .unwrap()
        .permissions
        .network;
    assert_eq!(network.connect, [6379, 443]);
    let (field, message) = field_error(&wasm_with("permissions: {network: {connect: [80, 0]}}"));
    assert_eq!(field, "wasm.permissions.network.connect[1]");
    assert!(message.contains("0 is not a port"), "{message}");
    let (field, _) = field_error(&wasm_with("permissions: {network: {connect: [70000]}}"));
    assert!(
        field.starts_with("wasm.permissions.network.connect"),
        "{field}"
    );
    let (field, message) = field_error(&wasm_with("permissions: {network: {listen: [80]}}"));
    assert!(field.starts_with("wasm.permissions.network"), "{field}");
    assert!(message.contains("listen"), "{message}");
}

#[test]
fn grpc_checksum_is_checked_at_load() {
    let digest = "0123456789abcdef".repeat(4);
    let text = format!("{GRPC}  args: [--port, '0']\n  checksum: sha256:{digest}\n");
    let grpc = Manifest::parse(&text).unwrap().grpc.unwrap();
    assert_eq!(grpc.args, ["--port", "0"]);
    assert_eq!(
        grpc.checksum.unwrap().to_string(),
        format!("sha256:{digest}")
    );

    let (field, message) = field_error(&format!("{GRPC}  checksum: md5:abc\n"));
    assert_eq!(field, "grpc.checksum");
    assert!(message.contains("is not a checksum"), "{message}");
}

#[test]
fn provides_is_validated() {
    let text = format!(
        "{WASM}provides:\n  module: true\n  abilities:\n    - capability: kanban\n      operations: [create_task, list_tasks]\n  provider: {{name: github, oauth: true}}\n"
    );
    let provides = Manifest::parse(&text).unwrap().provides;
    assert!(provides.module);
    assert_eq!(
        provides.abilities[0].operations,
        ["create_task", "list_tasks"]
    );
    assert!(provides.provider.unwrap().oauth);

    let cases = [
        (
            "abilities: [{capability: '', operations: [a]}]",
            "provides.abilities[0].capability",
            "must not be empty",
        ),
        (
            "abilities: [{capability: kv}]",
            "provides.abilities[0].operations",
            "at least one",
        ),
        (
            "abilities: [{capability: kv, operations: [get, '']}]",
            "provides.abilities[0].operations[1]",
            "must not be empty",
        ),
        (
            "abilities: [{capability: kv, operations: [get]}, {capability: kv, operations: [set, get]}]",
            "provides.abilities[1].operations[1]",
            "declared twice",
        ),
        (
            "provider: {name: ' '}",
            "provides.provider.name",
            "must not be empty",
        ),
        (
            "provider: {oauth: true}",
            "provides.provider.name",
            "is required",
        ),
    ];
    for (provides, field, expect) in cases {
        let (got_field, message) = field_error(&format!("{WASM}provides: {{{provides}}}\n"));
        assert_eq!(got_field, field, "{provides}");
        assert!(message.contains(expect), "{provides}: {message}");
    }
}

#[test]
fn versions_may_be_unquoted_numbers() {
    let manifest = Manifest::parse(&WASM.replace("version: 1.0.0", "version: 1.5")).unwrap();
    assert_eq!(manifest.version, "1.5");
    let manifest = Manifest::parse(&WASM.replace("version: 1.0.0", "version: 2")).unwrap();
    assert_eq!(manifest.version, "2");
    let (field, _) = field_error(&WASM.replace("version: 1.0.0", "version: [1]"));
    assert_eq!(field, "version");
}

fn write_plugin(dir: &Path, text: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let file = dir.join("plugin.yaml");
    std::fs::write(&file, text).unwrap();
    file
}

#[test]
fn from_file_resolves_artifacts_against_the_manifest_folder() {
    let root = tempfile::tempdir().unwrap();
    let echo = root.path().join("echo");
    let file = write_plugin(&echo, &wasm_with("permissions: {}"));

    for path in [file.as_path(), echo.as_path()] {
        let manifest = Manifest::from_file(path).unwrap();
        assert_eq!(manifest.wasm.unwrap().module, echo.join("echo.wasm"));
        assert_eq!(manifest.dir.as_deref(), Some(echo.as_path()));
    }

    let grpc = root.path().join("grpc");
    write_plugin(&grpc, GRPC);
    let binary = Manifest::from_file(&grpc).unwrap().grpc.unwrap().binary;
    assert_eq!(binary, grpc.join("./echo"));
    assert!(binary.starts_with(&grpc));

    let absolute = root.path().join("abs");
    write_plugin(
        &absolute,
        "name: a\nruntime: grpc\ngrpc: {binary: /usr/bin/env, args: [python3]}\n",
    );
    let grpc_config = Manifest::from_file(&absolute).unwrap().grpc.unwrap();
    assert_eq!(grpc_config.binary, PathBuf::from("/usr/bin/env"));

    // Parsing text leaves relative paths alone: there is no folder to resolve against.
    assert_eq!(
        Manifest::parse(WASM).unwrap().wasm.unwrap().module,
        PathBuf::from("echo.wasm")
    );
}

#[test]
fn file_errors_name_the_file_and_the_field() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("plugins/echo");
    let file = write_plugin(&dir, &wasm_with("permissions:\n  memory:\n    max: 64XB"));
    let err = Manifest::from_file(&dir).unwrap_err();
    assert_eq!(err.origin(), file.display().to_string());
    assert!(
        err.to_string().starts_with(&format!(
            "{}: wasm.permissions.memory.max: \"64XB\" is not a size",
            file.display()
        )),
        "{err}"
    );

    let missing = Manifest::from_file(&root.path().join("nowhere")).unwrap_err();
    assert!(
        missing.to_string().contains("nowhere: cannot read"),
        "{missing}"
    );

    write_plugin(&dir, "name: [unclosed\n");
    let syntax = Manifest::from_file(&dir).unwrap_err();
    assert!(matches!(syntax.kind(), ManifestErrorKind::Yaml(_)));
    assert!(syntax.to_string().contains("invalid YAML"), "{syntax}");
}

#[test]
fn config_schema_is_compiled_at_load() {
    let good = format!(
        "{WASM}config_schema:\n  type: object\n  required: [token]\n  properties:\n    token: {{type: string}}\n    port: {{type: integer, minimum: 1}}\n"
    );
    let manifest = Manifest::parse(&good).unwrap();
    assert!(manifest.config_schema.is_some());

    for bad in [
        "config_schema: {type: strnig}",
        "config_schema: {properties: {a: {minLength: -1}}}",
        "config_schema: [1, 2]",
        "config_schema: a string",
    ] {
        let (field, message) = field_error(&format!("{WASM}{bad}\n"));
        assert_eq!(field, "config_schema", "{bad}");
        assert!(message.contains("invalid JSON Schema"), "{bad}: {message}");
    }
}

#[test]
fn config_is_validated_with_every_violation_and_its_pointer() {
    let text = format!(
        "{WASM}config_schema:\n  type: object\n  required: [token]\n  properties:\n    token: {{type: string}}\n    port: {{type: integer, minimum: 1}}\n    hosts: {{type: array, items: {{type: string}}}}\n"
    );
    let manifest = Manifest::parse(&text).unwrap();
    manifest
        .validate_config(&json!({"token": "t", "port": 8080, "hosts": ["a"]}))
        .unwrap();

    let err = manifest
        .validate_config(&json!({"port": 0, "hosts": ["a", 3]}))
        .unwrap_err();
    assert_eq!(err.plugin, "echo");
    let pointers: Vec<&str> = err.violations.iter().map(|v| v.pointer.as_str()).collect();
    assert_eq!(pointers.len(), 3, "{err}");
    for expected in ["", "/port", "/hosts/1"] {
        assert!(
            pointers.contains(&expected),
            "{expected:?} missing from {err}"
        );
    }
    let text = err.to_string();
    assert!(
        text.starts_with("plugin echo: config does not match config_schema"),
        "{text}"
    );
    assert!(
        text.contains("/hosts/1: 3 is not of type \"string\""),
        "{text}"
    );

    // Without a schema, anything goes (as in the original).
    Manifest::parse(WASM)
        .unwrap()
        .validate_config(&json!(42))
        .unwrap();
}

#[test]
fn hostile_yaml_is_refused_not_survived() {
    // Billion laughs inside a manifest.
    let mut bomb = String::from(
        "name: echo\nruntime: wasm\nwasm: {module: a.wasm}\nx0: &x0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n",
    );
    for i in 1..10 {
        let refs = vec![format!("*x{}", i - 1); 10].join(", ");
        bomb.push_str(&format!("x{i}: &x{i} [{refs}]\n"));
    }
    let err = Manifest::parse(&bomb).unwrap_err();
    assert!(matches!(err.kind(), ManifestErrorKind::Yaml(_)), "{err}");

    // Megabytes of input, in text and on disk.
    let huge = format!("{WASM}description: \"{}\"\n", "x".repeat(3 << 20));
    assert!(
        Manifest::parse(&huge)
            .unwrap_err()
            .to_string()
            .contains("over the")
    );
    let root = tempfile::tempdir().unwrap();
    write_plugin(root.path(), &huge);
    assert!(
        Manifest::from_file(root.path())
            .unwrap_err()
            .to_string()
            .contains("over the")
    );

    // Duplicate keys are refused, not "last one wins".
    let err = Manifest::parse(&format!("{WASM}name: other\n")).unwrap_err();
    assert!(matches!(err.kind(), ManifestErrorKind::Yaml(_)), "{err}");

    // Deep nesting.
    let deep = format!(
        "{WASM}config_schema: {}{{}}{}\n",
        "{a: ".repeat(500),
        "}".repeat(500)
    );
    assert!(Manifest::parse(&deep).is_err());
}

#[test]
fn a_manifest_serializes_back_to_an_equivalent_one() {
    let text = format!("{WASM}provides: {{module: true}}\nconfig_schema: {{type: object}}\n")
        .replace(
            "module: echo.wasm",
            "module: echo.wasm\n  permissions: {memory: {max: 1MiB}, execution: {timeout: 1m30s}}",
        );
    let manifest = Manifest::parse(&text).unwrap();
    let json = serde_json::to_string(&manifest).unwrap();
    let again = Manifest::parse(&json).unwrap();
    assert_eq!(again, manifest);
}

#[test]
fn the_grpc_section_asks_for_its_confinement() {
    let grpc = Manifest::parse(&format!(
        "{GRPC}  env: {{RUST_LOG: debug}}\n  permissions:\n    filesystem: [{{path: /opt/python, mode: read}}]\n    network: {{connect: [443, 5432]}}\n    memory: {{max: 256MiB}}\n    processes: 32\n"
    ))
    .unwrap()
    .grpc
    .unwrap();
    assert_eq!(grpc.env["RUST_LOG"], "debug");
    assert_eq!(grpc.permissions.network.connect, [443, 5432]);
    assert_eq!(grpc.permissions.memory.max.to_string(), "256MiB");
    assert_eq!(grpc.permissions.processes, 32);
    assert_eq!(
        grpc.permissions.filesystem[0].path,
        PathBuf::from("/opt/python")
    );
    // Asking nothing: no network, 1 GiB, 256 processes.
    let plain = Manifest::parse(GRPC).unwrap().grpc.unwrap();
    assert!(plain.permissions.network.connect.is_empty() && plain.env.is_empty());
    // Nor UDP, nor a CPU cap of its own.
    assert!(!plain.permissions.network.udp && plain.permissions.cpu.is_none());
    let asks = Manifest::parse(&format!(
        "{GRPC}  permissions: {{network: {{udp: true}}, cpu: 0.5}}\n"
    ))
    .unwrap()
    .grpc
    .unwrap()
    .permissions;
    assert!(asks.network.udp);
    assert_eq!(asks.cpu.map(|c| c.as_millis()), Some(500));
    let err = Manifest::parse(&format!("{GRPC}  permissions: {{cpu: 0}}\n")).unwrap_err();
    assert!(err.to_string().contains("from 0.01 to 1024"), "{err}");
    // A wasm guest has no UDP to ask for.
    let (field, message) = field_error(&wasm_with("permissions: {network: {udp: true}}"));
    assert_eq!(field, "wasm.permissions.network.udp");
    assert!(message.contains("no UDP"), "{message}");
    assert_eq!(plain.permissions.memory.max.to_string(), "1GiB");
    assert_eq!(plain.permissions.processes, 256);

    for (extra, field, message) in [
        ("  env: {HOME: /x}\n", "grpc.env.HOME", "is set by the host"),
        (
            "  env: {PLUGIN_MIN_PORT: '1'}\n",
            "grpc.env.PLUGIN_MIN_PORT",
            "is set by the host",
        ),
        (
            "  env: {LD_PRELOAD: x.so}\n",
            "grpc.env.LD_PRELOAD",
            "is set by the host",
        ),
        (
            "  env: {'A-B': x}\n",
            "grpc.env.A-B",
            "is not a variable name",
        ),
        (
            "  permissions: {network: {connect: [0]}}\n",
            "grpc.permissions.network.connect[0]",
            "0 is not a port",
        ),
        (
            "  permissions: {memory: {max: 1MiB}}\n",
            "grpc.permissions.memory.max",
            "too small",
        ),
        (
            "  permissions: {processes: 0}\n",
            "grpc.permissions.processes",
            "out of range",
        ),
        (
            "  permissions: {filesystem: [{path: ''}]}\n",
            "grpc.permissions.filesystem[0].path",
            "must not be empty",
        ),
    ] {
        let (f, m) = field_error(&format!("{GRPC}{extra}"));
        assert_eq!(f, field, "{extra}");
        assert!(m.contains(message), "{extra}: {m}");
    }
}

#[test]
fn a_registered_runtimes_section_is_kept_for_it_to_read() {
    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Lua {
        script: String,
    }
    let manifest = Manifest::parse("name: echo\nruntime: lua\nlua: {script: a.lua}").unwrap();
    assert_eq!(manifest.runtime, "lua");
    assert_eq!(
        manifest.section::<Lua>().unwrap(),
        Some(Lua {
            script: "a.lua".into()
        })
    );
    let strict = Manifest::parse("name: echo\nruntime: lua\nlua: {script: a.lua, jit: true}")
        .unwrap()
        .section::<Lua>()
        .unwrap_err();
    assert_eq!(strict.field(), Some("lua.jit"));
    assert!(
        strict.to_string().contains("unknown field `jit`"),
        "{strict}"
    );
    let absent = Manifest::parse("name: echo\nruntime: lua").unwrap();
    assert_eq!(absent.section::<Lua>().unwrap(), None);
}

#[test]
fn grpc_timeouts_default_and_parse() {
    let manifest = Manifest::parse(
        "name: p\nruntime: grpc\ngrpc: {binary: x, timeouts: {call: 2m, shutdown: 5s}}",
    )
    .unwrap();
    let timeouts = manifest.grpc.unwrap().timeouts;
    assert_eq!(timeouts.call, std::time::Duration::from_secs(120));
    assert_eq!(timeouts.shutdown, std::time::Duration::from_secs(5));
    assert_eq!(timeouts.start, std::time::Duration::from_secs(10));
}

/// The example wasm plugin's manifest, as YAML and as built in code.
const HELLO: &str = "
name: hello
version: 0.1.0
description: Says hello.
runtime: wasm
provides:
  module: true
  abilities:
    - capability: greeting
      operations: [greet, wave]
  provider: { name: github, oauth: true }
wasm:
  module: hello.wasm
  permissions:
    memory: { max: 16MiB }
  pool: { max_instances: 2 }
config_schema:
  type: object
  properties:
    greeting: { type: string, minLength: 1 }
";

#[test]
fn a_built_manifest_is_the_parsed_one() {
    let built = Manifest::builder("hello", "0.1.0")
        .description("Says hello.")
        .wasm_module("hello.wasm")
        .runtime(
            "wasm",
            json!({"permissions": {"memory": {"max": "16MiB"}}, "pool": {"max_instances": 2}}),
        )
        .provides_module()
        .ability("greeting", ["greet", "wave"])
        .provider("github", true)
        .config_schema(json!({
            "type": "object",
            "properties": {"greeting": {"type": "string", "minLength": 1}}
        }))
        .build()
        .unwrap();
    assert_eq!(built, Manifest::parse(HELLO).unwrap());
    // Defaults are applied as for YAML, and the schema is compiled.
    assert_eq!(built.wasm.as_ref().unwrap().pool.max_instances, 2);
    assert!(built.validate_config(&json!({"greeting": ""})).is_err());

    let grpc = Manifest::builder("echo", "")
        .grpc_binary("./echo")
        .build()
        .unwrap();
    assert_eq!(grpc, Manifest::parse(GRPC).unwrap());
}

#[test]
fn a_built_manifest_in_a_folder_is_the_one_read_from_there() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("plugin.yaml"), WASM).unwrap();
    let built = Manifest::builder("echo", "1.0.0")
        .wasm_module("echo.wasm")
        .dir(dir.path())
        .build()
        .unwrap();
    assert_eq!(built, Manifest::from_file(dir.path()).unwrap());
    assert_eq!(built.wasm.unwrap().module, dir.path().join("echo.wasm"));
}

/// The `(field, message)` of a manifest the builder refuses.
fn built_error(builder: plugin_core::ManifestBuilder) -> (String, String) {
    let err = builder.build().expect_err("manifest should be refused");
    assert!(err.to_string().starts_with("<built in code>: "), "{err}");
    match err.kind() {
        ManifestErrorKind::Field { field, message } => (field.clone(), message.clone()),
        other => panic!("expected a field error, got {other}"),
    }
}

#[test]
fn an_invalid_built_manifest_fails_as_the_parsed_one() {
    // An ability without operations.
    let built = built_error(
        Manifest::builder("echo", "1.0.0")
            .wasm_module("echo.wasm")
            .ability("kanban", Vec::<String>::new()),
    );
    let parsed = field_error(&format!(
        "{WASM}provides:\n  abilities:\n    - capability: kanban\n      operations: []\n"
    ));
    assert_eq!(built, parsed);
    assert_eq!(built.0, "provides.abilities[0].operations");

    // A name that is not one.
    let built = built_error(Manifest::builder("no spaces", "1").wasm_module("echo.wasm"));
    assert_eq!(
        built,
        field_error("name: no spaces\nruntime: wasm\nwasm: {module: echo.wasm}\n")
    );

    // No runtime at all, and a value out of range.
    let built = built_error(Manifest::builder("echo", "1"));
    assert_eq!(built, field_error("name: echo\nversion: \"1\"\n"));
    assert_eq!(built.0, "runtime");
    let built = built_error(
        Manifest::builder("echo", "1.0.0")
            .wasm_module("echo.wasm")
            .runtime("wasm", json!({"pool": {"max_instances": 0}})),
    );
    assert_eq!(built, field_error(&wasm_with("pool:\n  max_instances: 0")));
}

#[test]
fn a_module_comes_as_bytes_only_from_code_never_from_yaml() {
    let section = plugin_core::WasmSection::from_bytes("echo.wasm", b"\0asm".as_slice());
    assert_eq!(section.module, PathBuf::from("echo.wasm"));
    assert_eq!(
        section.module_bytes.as_ref().map(|b| b.as_bytes()),
        Some(b"\0asm".as_slice())
    );
    assert_eq!(
        format!("{:?}", section.module_bytes.unwrap()),
        "ModuleBytes(4 bytes)"
    );
    assert_eq!(
        Manifest::parse(WASM).unwrap().wasm.unwrap().module_bytes,
        None
    );

    let (field, message) = field_error(&wasm_with("module_bytes: [0, 97]"));
    assert_eq!(field, "wasm.module_bytes");
    assert!(message.contains("unknown"), "{message}");
}

#[test]
fn a_built_manifest_can_carry_its_module_as_bytes() {
    let manifest = Manifest::builder("echo", "1.0.0")
        .wasm_bytes("echo.wasm", b"\0asm\x01\0\0\0".as_slice())
        .dir("/srv/plugins/echo")
        .build()
        .unwrap();
    assert_eq!(manifest.runtime, "wasm");
    let wasm = manifest.wasm.unwrap();
    assert_eq!(
        wasm.module,
        PathBuf::from("echo.wasm"),
        "a name, not a file"
    );
    assert_eq!(
        wasm.module_bytes.as_ref().map(|b| b.as_bytes()),
        Some(b"\0asm\x01\0\0\0".as_slice())
    );
}
