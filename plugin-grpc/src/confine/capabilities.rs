//! No capabilities in the plugin: a plugin process of a root host (or
//! root inside its user namespace) would otherwise exec as root with every
//! capability, and `CAP_DAC_READ_SEARCH` alone opens any file of a
//! filesystem by handle (`open_by_handle_at`), around its private root and
//! Landlock's rules (the "shocker" attack).
//!
//! In the child, after the private root is entered (its mounts need
//! `CAP_SYS_ADMIN`) and before Landlock and seccomp: the securebits that
//! give root no capabilities at `exec` (locked), an empty bounding set, no
//! ambient capabilities, and empty permitted, effective and inheritable
//! sets. A process that holds none (a host that is not root, without a
//! user namespace) has nothing to drop, and `no_new_privs` keeps it so.

use rustix::thread::{CapabilitiesSecureBits as Bits, CapabilitySet, CapabilitySets};

/// The highest capability number tried in the bounding set; the kernel
/// answers `EINVAL` past its last one.
const LAST_CAPABILITY: libc::c_ulong = 63;

/// Drops every capability of the calling process for good (in the child,
/// before `exec`): system calls only.
#[allow(unsafe_code)]
pub(super) fn drop_all() -> std::io::Result<()> {
    let held = rustix::thread::capabilities(None)?;
    if held.permitted.is_empty() && held.effective.is_empty() {
        return Ok(());
    }
    rustix::thread::set_capabilities_secure_bits(
        Bits::NO_ROOT
            | Bits::NO_ROOT_LOCKED
            | Bits::NO_SETUID_FIXUP
            | Bits::NO_SETUID_FIXUP_LOCKED
            | Bits::KEEP_CAPS_LOCKED
            | Bits::NO_CAP_AMBIENT_RAISE
            | Bits::NO_CAP_AMBIENT_RAISE_LOCKED,
    )?;
    for capability in 0..=LAST_CAPABILITY {
        // SAFETY: PR_CAPBSET_DROP takes a capability number, no pointer.
        let dropped = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, capability, 0, 0, 0) };
        if dropped != 0 {
            let error = std::io::Error::last_os_error();
            if error.raw_os_error() != Some(libc::EINVAL) {
                return Err(error);
            }
        }
    }
    rustix::thread::clear_ambient_capability_set()?;
    rustix::thread::set_capabilities(
        None,
        CapabilitySets {
            effective: CapabilitySet::empty(),
            permitted: CapabilitySet::empty(),
            inheritable: CapabilitySet::empty(),
        },
    )?;
    Ok(())
}
