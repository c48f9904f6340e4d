//! The errors of the core, in one place: each area's error type, and [`Error`], any of them,
//! for a caller that handles them all alike (the Python binding maps it once). Every layer
//! imports from here; this module imports from none.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// The largest coordinate (in magnitude) and `min_dist` accepted: the squared distance of two
/// points this far out, `3 * (2e150)^2`, is still a finite f64 (above about 1.3e154 it is
/// not, and every point would be "within" any distance).
pub const MAX_COORDINATE: f64 = 1e150;

#[derive(Clone, Debug, PartialEq)]
pub enum StarError {
    /// A line that fits nowhere in the STAR grammar.
    Unexpected { line: usize, text: String },
    /// A row whose field count differs from the number of labels.
    FieldCount { line: usize, expected: usize, got: usize },
    /// A field that must be a number and is not.
    NotANumber { line: usize, label: String, text: String },
    /// A quoted field without its closing quote.
    Unterminated { line: usize },
    /// A byte no text file holds (an MRC, a gzip or other binary file given as STAR).
    Binary { offset: usize },
    /// A name or a header line longer than [`MAX_TEXT`] bytes: refused before it is copied
    /// (a gigabyte-long name would be copied several times on its way, beyond a job's memory).
    TooLong { line: usize, what: String, len: usize },
}

/// The longest name (a text field the reader keeps: a micrograph or image name) or header
/// line (a label, a block name, a value) of a STAR file: 1 MiB, 256 times PATH_MAX.
pub const MAX_TEXT: usize = 1 << 20;

impl fmt::Display for StarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StarError::Unexpected { line, text } => {
                write!(f, "line {line}: unexpected text {text:?} (expected data_, loop_, a _label or a comment)")
            }
            StarError::FieldCount { line, expected, got } => {
                let noun = if *got == 1 { "field" } else { "fields" };
                write!(f, "line {line}: row has {got} {noun}, expected {expected} (one per column label)")
            }
            StarError::NotANumber { line, label, text } => {
                write!(f, "line {line}: column {label} holds {text:?}, expected a number")
            }
            StarError::Unterminated { line } => write!(f, "line {line}: quoted field has no closing quote"),
            StarError::Binary { offset } => write!(f, "not a text STAR file: binary content at byte {offset}"),
            StarError::TooLong { line, what, len } => {
                write!(f, "line {line}: {what} of {len} bytes, at most {MAX_TEXT} expected")
            }
        }
    }
}

impl std::error::Error for StarError {}

#[derive(Clone, Debug, PartialEq)]
pub enum DedupError {
    Dimension(usize),
    Length {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    MinDist(f64),
    NonFinite {
        index: usize,
    },
    TooFar {
        index: usize,
    },
    TooMany(usize),
    InputOutOfRange {
        index: usize,
        limit: u32,
    },
    NonFinitePose {
        index: usize,
    },
    /// Semi-axes of an exclusion ellipsoid that are not all above 0 and finite.
    SemiAxes([f64; 3]),
    GroupOutOfRange {
        index: usize,
        limit: usize,
    },
    /// A species' radius or the overlap factor that is not a finite distance >= 0.
    Radius(f64),
    SpeciesOutOfRange {
        index: usize,
        limit: usize,
    },
}

impl fmt::Display for DedupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DedupError::Dimension(d) => write!(f, "coordinates must have 2 or 3 columns, got {d}"),
            DedupError::Length { what, expected, got } => {
                write!(f, "{what} has {got} entries, expected {expected} (one per particle)")
            }
            DedupError::MinDist(d) => {
                write!(f, "min_dist must be a number from 0 to {MAX_COORDINATE:e} (its square finite), got {d}")
            }
            DedupError::NonFinite { index } => {
                write!(f, "particle {index} has a coordinate that is NaN or infinite")
            }
            DedupError::TooFar { index } => write!(
                f,
                "particle {index} has a coordinate beyond ±{MAX_COORDINATE:e}, where squared distances are not finite"
            ),
            DedupError::TooMany(n) => write!(f, "{n} particles is more than the 2^32 - 1 supported"),
            DedupError::NonFinitePose { index } => write!(f, "particle {index} has an angle that is NaN or infinite"),
            DedupError::SemiAxes(axes) => {
                write!(f, "semi-axes must be numbers above 0, to {MAX_COORDINATE:e}, got {axes:?}")
            }
            DedupError::GroupOutOfRange { index, limit } => {
                write!(f, "particle {index} belongs to a group numbered {limit} or more ({limit} groups)")
            }
            DedupError::Radius(r) => {
                write!(f, "radii and the overlap must be numbers from 0 to {MAX_COORDINATE:e}, got {r}")
            }
            DedupError::SpeciesOutOfRange { index, limit } => {
                write!(f, "particle {index} belongs to a species numbered {limit} or more ({limit} radii)")
            }
            DedupError::InputOutOfRange { index, limit } => {
                write!(f, "particle {index} belongs to an input numbered {limit} or more (at most {limit} inputs)")
            }
        }
    }
}

impl std::error::Error for DedupError {}

#[derive(Debug)]
pub enum PicksError {
    Io {
        path: PathBuf,
        error: io::Error,
    },
    /// An output that could not be written (a full disk): the caller names the output, not
    /// the temporary file the error is about.
    Write {
        path: PathBuf,
        error: io::Error,
    },
    Star {
        path: PathBuf,
        error: StarError,
    },
    /// A row that does not fit the layout.
    Row {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

impl fmt::Display for PicksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PicksError::Io { path, error } => write!(f, "{}: cannot read the file ({error})", path.display()),
            PicksError::Write { path, error } => write!(f, "{}: cannot write the file ({error})", path.display()),
            PicksError::Star { path, error } => write!(f, "{}: {error}", path.display()),
            PicksError::Row { path, line, message } => write!(f, "{}: line {line}: {message}", path.display()),
        }
    }
}

impl std::error::Error for PicksError {}

/// Inputs that cannot be joined (a caller's mistake, not a user's: the Python layer makes them).
#[derive(Debug, PartialEq)]
pub struct JoinError(pub String);

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for JoinError {}

/// A point group's name that the package whose poses they are does not define (or whose
/// setting its documents do not establish), and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownSymmetry {
    pub name: String,
    pub reason: String,
}

impl fmt::Display for UnknownSymmetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "symmetry {:?}: {}", self.name, self.reason)
    }
}

impl std::error::Error for UnknownSymmetry {}

/// Any error of a core call.
#[derive(Debug)]
pub enum Error {
    Star(StarError),
    Dedup(DedupError),
    Picks(PicksError),
    Join(JoinError),
    Symmetry(UnknownSymmetry),
    Io(io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Star(e) => e.fmt(f),
            Error::Dedup(e) => e.fmt(f),
            Error::Picks(e) => e.fmt(f),
            Error::Join(e) => e.fmt(f),
            Error::Symmetry(e) => e.fmt(f),
            Error::Io(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {}

macro_rules! from_area {
    ($($variant:ident($ty:ty)),*) => {
        $(impl From<$ty> for Error {
            fn from(e: $ty) -> Self {
                Error::$variant(e)
            }
        })*
    };
}

from_area!(
    Star(StarError),
    Dedup(DedupError),
    Picks(PicksError),
    Join(JoinError),
    Symmetry(UnknownSymmetry),
    Io(io::Error)
);

/// An error of a pass over a file that also writes others: reading the file (its path is
/// the caller's), writing one of the outputs (named), or a call the caller should not make.
#[derive(Debug)]
pub enum FileError {
    Read(Error),
    Write { path: PathBuf, error: io::Error },
    Call(String),
}

impl From<StarError> for FileError {
    fn from(e: StarError) -> Self {
        FileError::Read(Error::Star(e))
    }
}
