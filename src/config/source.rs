//! Layered key-value sources and the errors that loading them produces.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

/// Flat `NAME=value` configuration, as operators write it in an environment or `.env` file.
#[derive(Debug, Clone, Default)]
pub struct Source {
    values: HashMap<String, String>,
}

impl Source {
    /// An empty source (all defaults).
    pub fn new() -> Self {
        Source::default()
    }

    /// A source from pairs; later pairs win.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Source {
            values: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// Reads a `.env`-style file (`NAME=value` lines, `#` comments, optional quotes) without
    /// touching the process environment.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let iter = dotenvy::from_path_iter(path).map_err(|e| ConfigError::File {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let mut values = HashMap::new();
        for item in iter {
            let (k, v) = item.map_err(|e| ConfigError::File {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            values.insert(k, v);
        }
        Ok(Source { values })
    }

    /// Lays `over` on top of `self`: its values win.
    pub fn overlay(mut self, over: Source) -> Self {
        self.values.extend(over.values);
        self
    }

    /// The value of `name`, treating an empty string as unset (operators blank a variable to
    /// turn a feature off).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
    }
}

/// One thing wrong with the configuration, naming the variable and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The variable at fault.
    pub variable: &'static str,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.variable, self.message)
    }
}

/// Loading or validation failed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The settings file could not be read or parsed.
    #[error("cannot read settings file {path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// One or more values are invalid; all are listed.
    #[error("invalid configuration:\n{}", .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Problem>),
}
