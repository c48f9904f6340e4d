//! The one mapping of the core's errors to Python exceptions. A mistake in a user's input
//! (a STAR file that breaks the syntax, a picker file that cannot be read) is raised as the
//! package's own `cryodedup.errors.InputFileError` (a `CryodedupError`), its message naming
//! the file: the Python layer lets it through as it is. An output that cannot be written is an `OSError` with its
//! path, as Python's own `open` raises it; a call the Python layer should never make (bad
//! columns, mismatched arrays) a `ValueError`.

use std::io;
use std::path::{Path, PathBuf};

use cryodedup_core::algo::histogram::CountError;
use cryodedup_core::algo::neighbours::NearestError;
use cryodedup_core::errors::{DedupError, Error, FileError, JoinError, PicksError, UnknownSymmetry};
use cryodedup_core::images::RunsMismatch;
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::PyErr;

pyo3::import_exception!(cryodedup.errors, InputFileError);

/// A core error, with what Python needs to raise it.
#[derive(Debug)]
pub enum CoreError {
    /// An input file that cannot be read or parsed: the message is prefixed with its path.
    Input { path: PathBuf, error: Error },
    /// An input error whose message names its file already (picker files, read many at a time).
    Named(Error),
    /// An output that cannot be written.
    Output { path: PathBuf, error: io::Error },
    /// Arguments that the Python layer should have checked.
    Call(String),
}

impl CoreError {
    /// An error reading the input `path`.
    pub fn reading(path: &Path, error: impl Into<Error>) -> Self {
        CoreError::Input { path: path.to_path_buf(), error: error.into() }
    }

    /// An error of a pass over the input `path` that also writes outputs (named in it).
    pub fn of_file(path: &Path, error: FileError) -> Self {
        match error {
            FileError::Read(error) => CoreError::Input { path: path.to_path_buf(), error },
            FileError::Write { path, error } => CoreError::Output { path, error },
            FileError::Call(message) => CoreError::Call(message),
        }
    }

    /// An error writing the output `path`.
    pub fn writing(path: &Path, error: io::Error) -> Self {
        CoreError::Output { path: path.to_path_buf(), error }
    }
}

impl From<PicksError> for CoreError {
    fn from(e: PicksError) -> Self {
        match e {
            // An OSError with the file's name: the Python layer names the output it was for.
            PicksError::Write { path, error } => CoreError::Output { path, error },
            e => CoreError::Named(e.into()),
        }
    }
}

impl From<NearestError> for CoreError {
    fn from(e: NearestError) -> Self {
        match e {
            NearestError::Points(e) => e.into(),
            NearestError::Counts(e) => e.into(),
        }
    }
}

/// Errors of arguments the Python layer builds (never of a user's file).
macro_rules! from_call {
    ($($ty:ty),*) => {
        $(impl From<$ty> for CoreError {
            fn from(e: $ty) -> Self {
                CoreError::Call(e.to_string())
            }
        })*
    };
}

from_call!(DedupError, JoinError, UnknownSymmetry, RunsMismatch, CountError);

impl From<CoreError> for PyErr {
    fn from(e: CoreError) -> PyErr {
        match e {
            CoreError::Input { path, error: Error::Io(error) } => {
                InputFileError::new_err(format!("{}: cannot read the file ({error})", path.display()))
            }
            CoreError::Input { path, error } => InputFileError::new_err(format!("{}: {error}", path.display())),
            CoreError::Named(error) => InputFileError::new_err(error.to_string()),
            CoreError::Output { path, error } => {
                PyOSError::new_err((error.raw_os_error().unwrap_or(0), error.to_string(), path.display().to_string()))
            }
            CoreError::Call(message) => PyValueError::new_err(message),
        }
    }
}

/// A `ValueError` for arguments that the Python layer should have checked.
pub fn value(message: String) -> PyErr {
    CoreError::Call(message).into()
}
