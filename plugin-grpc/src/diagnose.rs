//! Why a plugin process ended before its handshake, when the confinement is
//! the likely cause: its last lines on stderr (a `ModuleNotFoundError`, a
//! `Permission denied` on a path) or its end (`SIGSYS`) read against what
//! the plugin may see, to name the grant that is missing.
//!
//! A guess, worded as one: the lines are the plugin's, and a plugin may
//! fail on its own for the same words.

use std::path::{Path, PathBuf};

use crate::confine::SYSTEM_DIRS;

/// What a confined plugin may see of the file system, as far as a hint
/// needs to know.
pub(crate) struct Sight<'a> {
    /// The plugin's name (for the setting to name).
    pub(crate) plugin: &'a str,
    /// The executable as the manifest names it.
    pub(crate) binary: &'a Path,
    /// The executable, symlinks resolved (what the confinement grants).
    pub(crate) canonical_binary: &'a Path,
    /// Folders it may read: its plugin folder, data, temp, socket folders
    /// and the folders granted.
    pub(crate) folders: Vec<PathBuf>,
    /// The variables of its environment from `grpc.env`.
    pub(crate) env: &'a [(String, String)],
}

/// Words on stderr that mean a file or folder was refused or hidden.
const REFUSED: &[&str] = &[
    "Permission denied",
    "permission denied",
    "EACCES",
    "No such file or directory",
    "ENOENT",
    "Read-only file system",
];

/// Words on stderr that mean an interpreter did not find its own files or
/// its packages.
const NOT_FOUND: &[&str] = &[
    "ModuleNotFoundError",
    "No module named",
    "Fatal Python error",
    "Could not find platform",
    "Cannot find module",
    "error while loading shared libraries",
];

/// Environment variables naming folders an interpreter reads.
const PATH_VARIABLES: &[&str] = &["PYTHONPATH", "PYTHONHOME", "NODE_PATH"];

/// The likely missing grant, in a sentence, or `None` when nothing points
/// at the confinement.
pub(crate) fn hint(sight: &Sight<'_>, status: &str, lines: &[String]) -> Option<String> {
    if status.starts_with("signal 31") {
        return Some(format!(
            "signal 31 (SIGSYS) is how the kernel ends a process for a system call its seccomp filter refuses: the confinement refused a call plugin {} made",
            sight.plugin
        ));
    }
    let grant = format!(
        "ask for it in grpc.permissions.filesystem and grant it in plugins.permissions.plugins.{}.filesystem",
        sight.plugin
    );
    // A path the plugin was refused, named on stderr.
    for line in lines {
        if !REFUSED.iter().any(|w| line.contains(w)) {
            continue;
        }
        for path in absolute_paths(line) {
            if !sight.sees(&path) {
                let folder = interpreter_prefixes(sight)
                    .into_iter()
                    .find(|prefix| path.starts_with(prefix))
                    .unwrap_or_else(|| path.parent().unwrap_or(&path).to_path_buf());
                return Some(format!(
                    "{} is outside the folders plugin {} may read, so the confinement hides it; the folder {} is not granted: {}",
                    path.display(),
                    sight.plugin,
                    folder.display(),
                    grant
                ));
            }
        }
    }
    let refused = lines
        .iter()
        .any(|line| REFUSED.iter().chain(NOT_FOUND).any(|w| line.contains(w)));
    if !refused {
        return None;
    }
    // An interpreter that did not find its own files, or its packages.
    let hidden: Vec<String> = interpreter_prefixes(sight)
        .into_iter()
        .filter(|p| !sight.sees(p))
        .map(|p| p.display().to_string())
        .collect();
    match hidden.as_slice() {
        [] => {}
        [one] => {
            return Some(format!(
                "the interpreter's folder {one} is not granted: {grant}"
            ));
        }
        [first @ .., last] => {
            return Some(format!(
                "the interpreter's folders {} and {last} are not granted: ask for them in grpc.permissions.filesystem and grant them in plugins.permissions.plugins.{}.filesystem",
                first.join(", "),
                sight.plugin
            ));
        }
    }
    for (name, value) in sight.env {
        if !PATH_VARIABLES.contains(&name.as_str()) {
            continue;
        }
        for entry in value.split(':').filter(|e| e.starts_with('/')) {
            let entry = PathBuf::from(entry);
            if !sight.sees(&entry) {
                return Some(format!(
                    "{} (in {name}) is not granted: {}",
                    entry.display(),
                    grant
                ));
            }
        }
    }
    None
}

/// Why the executable could not be started, when the confinement is the
/// likely cause: a script whose `#!` interpreter exists on the host but
/// lies outside what the plugin may see.
pub(crate) fn spawn_hint(sight: &Sight<'_>, error: &std::io::Error) -> Option<String> {
    use std::io::ErrorKind;
    if !matches!(
        error.kind(),
        ErrorKind::NotFound | ErrorKind::PermissionDenied
    ) {
        return None;
    }
    let interpreter = shebang(sight.canonical_binary)?;
    if sight.sees(&interpreter) || !interpreter.exists() {
        return None;
    }
    let folder = prefix_of(&interpreter).unwrap_or(&interpreter);
    Some(format!(
        "its #! interpreter {} is outside the folders plugin {} may read, so the confinement hides it; the interpreter's folder {} is not granted: ask for it in grpc.permissions.filesystem and grant it in plugins.permissions.plugins.{}.filesystem",
        interpreter.display(),
        sight.plugin,
        folder.display(),
        sight.plugin
    ))
}

impl Sight<'_> {
    /// Whether the plugin may read `path`.
    fn sees(&self, path: &Path) -> bool {
        path == self.binary
            || path == self.canonical_binary
            || SYSTEM_DIRS.iter().any(|d| path.starts_with(d))
            || self.folders.iter().any(|f| path.starts_with(f))
    }
}

/// Where the interpreter's own files are likely to be: the folder above
/// `bin/` of the executable (as named, and with symlinks resolved: a
/// virtual environment's `python` links to its base interpreter), and of a
/// script's `#!` interpreter.
fn interpreter_prefixes(sight: &Sight<'_>) -> Vec<PathBuf> {
    let mut executables = vec![
        sight.binary.to_path_buf(),
        sight.canonical_binary.to_path_buf(),
    ];
    if let Some(interpreter) = shebang(sight.canonical_binary) {
        executables.push(interpreter);
    }
    let mut prefixes: Vec<PathBuf> = Vec::new();
    for executable in executables {
        let Some(prefix) = prefix_of(&executable) else {
            continue;
        };
        if prefix != Path::new("/") && !prefixes.iter().any(|p| p == prefix) {
            prefixes.push(prefix.to_path_buf());
        }
    }
    prefixes
}

/// The folder an executable's installation is in: the one above `bin/`,
/// else the executable's own folder.
fn prefix_of(executable: &Path) -> Option<&Path> {
    let parent = executable.parent()?;
    Some(match (parent.file_name(), parent.parent()) {
        (Some(name), Some(above)) if name == "bin" && above != Path::new("/") => above,
        _ => parent,
    })
}

/// The interpreter of a script's `#!` line (an absolute path other than
/// `env`), reading at most its first 256 bytes.
fn shebang(script: &Path) -> Option<PathBuf> {
    use std::io::Read as _;
    let mut head = [0u8; 256];
    let file = std::fs::File::open(script).ok()?;
    let read = file.take(256).read(&mut head).ok()?;
    let head = head.get(..read)?;
    let line = head.strip_prefix(b"#!")?;
    let line = &line[..line.iter().position(|&b| b == b'\n').unwrap_or(line.len())];
    let line = std::str::from_utf8(line).ok()?;
    let interpreter = line.split_whitespace().next()?;
    let interpreter = PathBuf::from(interpreter);
    (interpreter.is_absolute() && interpreter.file_name()? != "env").then_some(interpreter)
}

/// The absolute paths in a line of text: words starting with `/`, with the
/// quotes and punctuation around them taken off.
fn absolute_paths(line: &str) -> Vec<PathBuf> {
    line.split(|c: char| c.is_whitespace() || matches!(c, '\'' | '"' | '`' | ',' | '(' | ')'))
        .map(|word| word.trim_end_matches([':', '.', ';']))
        .filter(|word| word.starts_with('/') && word.len() > 1)
        .map(PathBuf::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sight<'a>(binary: &'a Path, env: &'a [(String, String)]) -> Sight<'a> {
        Sight {
            plugin: "py",
            binary,
            canonical_binary: binary,
            folders: vec![PathBuf::from("/plugins/py"), PathBuf::from("/granted")],
            env,
        }
    }

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn a_missing_module_names_the_interpreters_folder() {
        let binary = PathBuf::from("/opt/py/bin/python3");
        let hint = hint(
            &sight(&binary, &[]),
            "exit status 1",
            &lines(
                "Traceback (most recent call last):\nModuleNotFoundError: No module named 'grpc'",
            ),
        );
        assert_eq!(
            hint.as_deref(),
            Some(
                "the interpreter's folder /opt/py is not granted: ask for it in grpc.permissions.filesystem and grant it in plugins.permissions.plugins.py.filesystem"
            )
        );
    }

    #[test]
    fn a_virtual_environment_and_its_base_are_both_named() {
        let binary = PathBuf::from("/srv/venv/bin/python3");
        let base = PathBuf::from("/opt/py/bin/python3.12");
        let sight = Sight {
            canonical_binary: &base,
            ..sight(&binary, &[])
        };
        let hint = hint(
            &sight,
            "exit status 1",
            &lines("Fatal Python error: init_fs_encoding"),
        );
        assert_eq!(
            hint.as_deref(),
            Some(
                "the interpreter's folders /srv/venv and /opt/py are not granted: ask for them in grpc.permissions.filesystem and grant them in plugins.permissions.plugins.py.filesystem"
            )
        );
    }

    #[test]
    fn a_refused_path_names_its_folder() {
        let binary = PathBuf::from("/usr/bin/python3");
        let hint = hint(
            &sight(&binary, &[]),
            "exit status 1",
            &lines("PermissionError: [Errno 13] Permission denied: '/srv/models/a.bin'"),
        )
        .unwrap_or_default();
        assert!(
            hint.starts_with("/srv/models/a.bin is outside the folders plugin py may read"),
            "{hint}"
        );
        assert!(
            hint.contains("the folder /srv/models is not granted"),
            "{hint}"
        );
    }

    #[test]
    fn granted_and_system_paths_and_plain_failures_give_no_hint() {
        let binary = PathBuf::from("/usr/bin/python3");
        let none = |text: &str| hint(&sight(&binary, &[]), "exit status 1", &lines(text));
        assert_eq!(none("No such file or directory: '/granted/x'"), None);
        assert_eq!(none("ModuleNotFoundError: No module named 'grpc'"), None);
        assert_eq!(none("config is invalid"), None);
    }

    #[test]
    fn a_module_path_outside_the_grants_is_named() {
        let binary = PathBuf::from("/usr/bin/python3");
        let env = [("PYTHONPATH".to_owned(), "/granted/lib:/srv/site".to_owned())];
        let hint = hint(
            &sight(&binary, &env),
            "exit status 1",
            &lines("ModuleNotFoundError: No module named 'grpc'"),
        )
        .unwrap_or_default();
        assert!(
            hint.starts_with("/srv/site (in PYTHONPATH) is not granted"),
            "{hint}"
        );
    }

    #[test]
    fn sigsys_is_named_as_the_seccomp_filter() {
        let binary = PathBuf::from("/usr/bin/python3");
        let hint = hint(&sight(&binary, &[]), "signal 31 (SIGSYS)", &[]).unwrap_or_default();
        assert!(hint.contains("seccomp"), "{hint}");
    }
}
