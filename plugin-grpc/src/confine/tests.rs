//! The report [`plan`] writes for every Landlock ABI, with and without
//! seccomp and a cgroup: what is claimed enforced is what that kernel
//! enforces.

#![allow(clippy::unwrap_used)]

use super::*;
use plugin_types::Cores;

fn kernel(abi: i32, seccomp: bool) -> Kernel {
    Kernel {
        landlock_abi: abi,
        seccomp,
        arch: seccomp::arch(),
        root: false,
        files: MAX_OPEN_FILES,
        user_ns: false,
        private_root: Ok(()),
    }
}

fn report(kernel: &Kernel, grant: &ProcessGrant, connect: &[u16]) -> Plan {
    plan(
        kernel,
        &Ask {
            grant,
            connect,
            folders: 0,
            bind: 20_000..=20_015,
            own_network: false,
            memory_by: Some("cgroup v1 memory.limit_in_bytes"),
            pids_by: Some("cgroup v1 pids.max"),
            cpu_by: Some("cgroup v1 cpu.cfs_quota_us"),
        },
    )
}

/// `(filesystem, network, isolation)` enforced, for a plugin granted one
/// TCP port, by Landlock ABI.
const TABLE: [(i32, bool, bool, bool); 8] = [
    (0, false, false, false),
    // No truncation rules: a file it may only read can be emptied.
    (1, false, false, false),
    (2, false, false, false),
    // Truncation governed; no TCP rules yet.
    (3, true, false, false),
    (4, true, true, false),
    (5, true, true, false),
    (6, true, true, true),
    (7, true, true, true),
];

#[test]
fn the_report_claims_only_what_each_landlock_abi_enforces() {
    let grant = ProcessGrant::default();
    for (abi, filesystem, network, isolation) in TABLE {
        let plan = report(&kernel(abi, true), &grant, &[5432]);
        let enforced = |what: &str| plan.report.get(what).unwrap().enforced;
        assert_eq!(enforced("filesystem"), filesystem, "ABI {abi}");
        assert_eq!(enforced("network"), network, "ABI {abi}");
        assert_eq!(enforced("isolation"), isolation, "ABI {abi}");
        assert!(enforced("privileges") && enforced("cpu"), "ABI {abi}");
        let fs = &plan.report.get("filesystem").unwrap().how;
        match abi {
            0 => assert!(fs.starts_with("none"), "{fs}"),
            1 | 2 => assert!(fs.contains("not truncation"), "{fs}"),
            3 | 4 => assert!(fs.contains("device ioctls are not governed"), "{fs}"),
            _ => assert!(fs.ends_with("device ioctls too"), "{fs}"),
        }
        // Granted TCP is admitted by seccomp; UDP is not, being ungranted.
        assert_eq!(
            plan.sockets,
            seccomp::Sockets {
                tcp: true,
                udp: false
            }
        );
        // Asking no TCP: TCP is admitted only where Landlock holds it.
        let plan = report(&kernel(abi, true), &grant, &[]);
        assert_eq!(plan.sockets.tcp, abi >= 4, "ABI {abi}");
        assert!(plan.report.get("network").unwrap().enforced, "ABI {abi}");
    }
}

#[test]
fn without_seccomp_neither_network_nor_privileges_is_enforced() {
    let plan = report(&kernel(7, false), &ProcessGrant::default(), &[]);
    let missing: Vec<&str> = plan.report.missing().map(|m| m.what.as_str()).collect();
    assert_eq!(missing, ["privileges", "network"]);
}

#[test]
fn udp_is_admitted_and_reported_only_when_granted() {
    let granted = ProcessGrant {
        udp: true,
        ..ProcessGrant::default()
    };
    let plan = report(&kernel(7, true), &granted, &[]);
    assert!(plan.sockets.udp);
    let network = plan.report.get("network").unwrap();
    assert!(
        network.enforced && network.how.contains("UDP to any address and port (granted"),
        "{network}"
    );
    let plan = report(&kernel(7, true), &ProcessGrant::default(), &[]);
    assert!(!plan.sockets.udp);
    let network = plan.report.get("network").unwrap();
    assert!(network.how.starts_with("none: ") && network.how.contains("no UDP"));
}

#[test]
fn a_cpu_cap_without_a_controller_is_not_enforced() {
    let capped = ProcessGrant {
        cpu: Some(Cores::millis(500)),
        ..ProcessGrant::default()
    };
    let without = |grant: &ProcessGrant| {
        plan(
            &kernel(7, true),
            &Ask {
                grant,
                connect: &[],
                folders: 0,
                bind: 20_000..=20_015,
                own_network: false,
                memory_by: None,
                pids_by: None,
                cpu_by: None,
            },
        )
        .report
        .get("cpu")
        .cloned()
        .unwrap()
    };
    let cpu = without(&capped);
    assert!(
        !cpu.enforced && cpu.how.starts_with("0.5 cores asked"),
        "{cpu}"
    );
    // No cap asked: nothing to enforce, and strict does not fail for it.
    assert!(without(&ProcessGrant::default()).enforced);
    let cpu = report(&kernel(7, true), &capped, &[])
        .report
        .get("cpu")
        .cloned()
        .unwrap();
    assert_eq!(cpu.how, "cgroup v1 cpu.cfs_quota_us 0.5 cores");
    assert!(cpu.enforced);
}

/// A kernel that cannot make a private root: the report says so (not
/// enforced, naming why), which `strict` turns into a refusal.
#[test]
fn a_host_without_a_private_root_reports_it_not_enforced() {
    let kernel = |private_root| Kernel {
        landlock_abi: 7,
        seccomp: true,
        arch: seccomp::arch(),
        root: false,
        files: 4096,
        user_ns: true,
        private_root,
    };
    let grant = ProcessGrant::default();
    let ask = Ask {
        grant: &grant,
        connect: &[],
        folders: 0,
        bind: 20_000..=20_015,
        own_network: false,
        memory_by: Some("cgroup v2"),
        pids_by: Some("cgroup v2"),
        cpu_by: Some("cgroup v2"),
    };
    let without = plan(&kernel(Err("unshare(CLONE_NEWNS) failed".into())), &ask).report;
    let missing: Vec<String> = without.missing().map(ToString::to_string).collect();
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert!(
        missing[0].contains("mounts") && missing[0].contains("unshare(CLONE_NEWNS) failed"),
        "{missing:?}"
    );
    let with = plan(&kernel(Ok(())), &ask).report;
    assert_eq!(with.missing().count(), 0);
    let mounts = with.get("mounts").unwrap();
    assert!(mounts.how.contains("mount and user namespace"), "{mounts}");
}
