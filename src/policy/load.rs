//! Reading policies from a file, a directory, or a string in memory.
//!
//! A directory is read as its `*.yaml` and `*.yml` files (not its
//! subdirectories or hidden files), sorted by name; each YAML document in a
//! file is one policy. Whatever goes wrong with one file (unreadable, too
//! large, not UTF-8, not YAML, a FIFO or device rather than a file) is a
//! diagnostic for that file and the others are still read, so one report
//! holds every problem.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use super::conflicts::conflicts;
use super::diagnostic::{Diagnostic, LoadedPolicies, PolicyErrors, PolicyReport};
use super::outline::quoted;
use super::parse::parse;
use super::validate::{validate, CheckedPolicy};

pub use super::limits::MAX_POLICY_FILE_BYTES;

/// Load every policy from a file or a directory of `*.yaml`/`*.yml` files.
/// Fails with every error when any policy is invalid.
pub fn load_path(path: &Path) -> Result<LoadedPolicies, PolicyErrors> {
    check_path(path).into_result()
}

/// [`load_path`] for a controller whose own region is `home_region` (see
/// [`check_path_in`]).
pub fn load_path_in(
    path: &Path,
    home_region: Option<&str>,
) -> Result<LoadedPolicies, PolicyErrors> {
    check_path_in(path, home_region).into_result()
}

/// Load policies from YAML text; `origin` names it in messages.
pub fn load_str(origin: &Path, text: &str) -> Result<LoadedPolicies, PolicyErrors> {
    check_str(origin, text).into_result()
}

/// Check every policy of a file or directory: the valid policies and every
/// error and warning. See [`PolicyReport`] for which policies it keeps.
pub fn check_path(path: &Path) -> PolicyReport {
    check_path_in(path, None)
}

/// [`check_path`], knowing the controller's own region: a policy without
/// `region` whose queue URL or ARN names another region is an error, since
/// its calls go to `home_region`, where that name means something else.
pub fn check_path_in(path: &Path, home_region: Option<&str>) -> PolicyReport {
    let mut collector = Collector::new(home_region);
    match policy_files(path) {
        Ok(files) => {
            for file in files {
                match read_policy_file(&file) {
                    Ok(text) => collector.add_text(&file, &text),
                    Err(problem) => collector.diagnostics.push(*problem),
                }
            }
        }
        Err(problem) => collector.diagnostics.push(*problem),
    }
    collector.finish()
}

/// [`check_path`] for YAML text in memory; `origin` names it in messages.
pub fn check_str(origin: &Path, text: &str) -> PolicyReport {
    check_str_in(origin, text, None)
}

/// [`check_str`] knowing the controller's own region (see [`check_path_in`]).
pub fn check_str_in(origin: &Path, text: &str, home_region: Option<&str>) -> PolicyReport {
    let mut collector = Collector::new(home_region);
    collector.add_text(origin, text);
    collector.finish()
}

struct Collector<'a> {
    home_region: Option<&'a str>,
    checked: Vec<CheckedPolicy>,
    diagnostics: Vec<Diagnostic>,
}

impl<'a> Collector<'a> {
    fn new(home_region: Option<&'a str>) -> Collector<'a> {
        Collector {
            home_region,
            checked: Vec::new(),
            diagnostics: Vec::new(),
        }
    }

    fn add_text(&mut self, file: &Path, text: &str) {
        if text.len() as u64 > MAX_POLICY_FILE_BYTES {
            self.diagnostics.push(*too_large(file, text.len() as u64));
            return;
        }
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let parsed = parse(file, text);
        self.diagnostics.extend(parsed.diagnostics);
        for document in parsed.documents {
            let (checked, diagnostics) = validate(file, document, self.home_region);
            self.diagnostics.extend(diagnostics);
            self.checked.extend(checked);
        }
    }

    fn finish(mut self) -> PolicyReport {
        let (clashes, keep) = conflicts(&self.checked);
        self.diagnostics.extend(clashes);
        // Files were read in order, so sorting by file keeps that order.
        self.diagnostics
            .sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
        let policies = self
            .checked
            .into_iter()
            .zip(keep)
            .filter_map(|(checked, keep)| keep.then_some(checked.policy))
            .collect();
        PolicyReport {
            policies,
            diagnostics: self.diagnostics,
        }
    }
}

/// `path` itself, or the policy files of the directory `path`.
fn policy_files(path: &Path) -> Result<Vec<PathBuf>, Box<Diagnostic>> {
    let metadata = fs::metadata(path).map_err(|error| unreadable(path, &error))?;
    if !metadata.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let entries = fs::read_dir(path).map_err(|error| unreadable(path, &error))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|error| unreadable(path, &error))?;
        let file = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let is_yaml = Path::new(name.as_ref())
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("yaml") || ext.eq_ignore_ascii_case("yml"));
        // A directory named `x.yaml` is not a policy file; a broken link is
        // kept so that reading it reports the problem.
        let is_dir = fs::metadata(&file).is_ok_and(|m| m.is_dir());
        if is_yaml && !name.starts_with('.') && !is_dir {
            files.push(file);
        }
    }
    if files.is_empty() {
        return Err(Box::new(
            Diagnostic::error(path, 0, 0, "holds no *.yaml or *.yml file")
                .with_hint("point at a policy file, or a directory of them"),
        ));
    }
    files.sort();
    Ok(files)
}

/// The text of a policy file: at most [`MAX_POLICY_FILE_BYTES`], UTF-8.
/// Anything but a regular file (a symbolic link to one is fine) is refused
/// unopened, whether named or found in a directory: opening a FIFO blocks
/// until something writes to it, which would hang `validate` (and the
/// daemon's reload) on a stray FIFO.
fn read_policy_file(path: &Path) -> Result<String, Box<Diagnostic>> {
    let metadata = fs::metadata(path).map_err(|error| unreadable(path, &error))?;
    if !metadata.is_file() {
        return Err(not_a_file(path, metadata.file_type()));
    }
    let file = File::open(path).map_err(|error| unreadable(path, &error))?;
    let size = file
        .metadata()
        .map_err(|error| unreadable(path, &error))?
        .len();
    if size > MAX_POLICY_FILE_BYTES {
        return Err(too_large(path, size));
    }
    // The size can change between the check and the read (or lie, for a
    // special file): never read more than the limit and one byte.
    let mut bytes = Vec::new();
    file.take(MAX_POLICY_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| unreadable(path, &error))?;
    if bytes.len() as u64 > MAX_POLICY_FILE_BYTES {
        return Err(too_large(path, bytes.len() as u64));
    }
    String::from_utf8(bytes).map_err(|error| not_utf8(path, error.as_bytes(), error.utf8_error()))
}

fn unreadable(path: &Path, error: &std::io::Error) -> Box<Diagnostic> {
    if error.kind() == std::io::ErrorKind::NotFound {
        if let Ok(target) = fs::read_link(path) {
            return broken_link(path, &target);
        }
    }
    Box::new(
        Diagnostic::error(path, 0, 0, format!("cannot be read: {error}"))
            .with_hint("check that the path exists and is readable"),
    )
}

fn broken_link(path: &Path, target: &Path) -> Box<Diagnostic> {
    Box::new(
        Diagnostic::error(
            path,
            0,
            0,
            format!(
                "is a symbolic link to {}, which does not exist",
                quoted(&target.to_string_lossy())
            ),
        )
        .with_hint("point the link at a policy file, or remove it"),
    )
}

fn not_a_file(path: &Path, file_type: fs::FileType) -> Box<Diagnostic> {
    Box::new(
        Diagnostic::error(
            path,
            0,
            0,
            format!("is {}, not a regular file", special_kind(file_type)),
        )
        .with_hint(
            "a policy file must be a regular file; for generated policies, \
             write them to a file or pass them in BACKLOG_SCALER_POLICIES",
        ),
    )
}

/// What a file that is neither a regular file nor a directory is.
#[cfg_attr(not(unix), allow(unused_variables))]
fn special_kind(file_type: fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO";
        }
        if file_type.is_socket() {
            return "a socket";
        }
        if file_type.is_block_device() || file_type.is_char_device() {
            return "a device";
        }
    }
    "a special file"
}

fn too_large(path: &Path, size: u64) -> Box<Diagnostic> {
    Box::new(
        Diagnostic::error(
            path,
            0,
            0,
            format!(
                "is {size} bytes, over the {MAX_POLICY_FILE_BYTES}-byte limit for a policy file"
            ),
        )
        .with_hint("policy files are a few kilobytes; check this is the right file"),
    )
}

/// Points at the first byte that is not UTF-8, by line and character.
fn not_utf8(path: &Path, bytes: &[u8], error: std::str::Utf8Error) -> Box<Diagnostic> {
    let valid = &bytes[..error.valid_up_to()];
    let text = String::from_utf8_lossy(valid);
    let line = text.matches('\n').count() as u64 + 1;
    let column = text
        .rsplit('\n')
        .next()
        .map_or(0, |last| last.chars().count()) as u64
        + 1;
    let byte = bytes[error.valid_up_to()];
    // Windows editors' "Unicode" is UTF-16, which starts with its BOM.
    let hint = if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        "this looks like UTF-16; save the file as UTF-8"
    } else {
        "save the file as UTF-8"
    };
    Box::new(
        Diagnostic::error(
            path,
            line,
            column,
            format!("is not UTF-8 text: byte 0x{byte:02X}"),
        )
        .with_hint(hint),
    )
}
