//! Series identity: a metric name and a label set, validated as the
//! Prometheus data model defines them
//! (<https://prometheus.io/docs/concepts/data_model/>), and kept in one
//! canonical form (labels sorted by name) so that the same series is
//! found however its labels were ordered.

use std::{borrow::Cow, fmt, sync::Arc};

use super::{Kind, RegistryError};

/// A series' name and labels, labels sorted by name.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    name: Arc<str>,
    labels: Box<[(Arc<str>, Box<str>)]>,
}

impl SeriesKey {
    /// A key from a name and `(label name, value)` pairs in any order.
    ///
    /// # Errors
    ///
    /// [`RegistryError::InvalidName`], [`RegistryError::InvalidLabelName`]
    /// (which includes the reserved `__` prefix) or
    /// [`RegistryError::DuplicateLabel`].
    pub fn new(name: &str, labels: &[(&str, &str)]) -> Result<Self, RegistryError> {
        check_name(name)?;
        let mut pairs = Vec::with_capacity(labels.len());
        for &(label, value) in labels {
            check_label_name(label)?;
            pairs.push((Arc::<str>::from(label), Box::<str>::from(value)));
        }
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        if let Some(pair) = pairs.windows(2).find(|pair| pair[0].0 == pair[1].0) {
            return Err(RegistryError::DuplicateLabel(pair[0].0.to_string()));
        }
        Ok(SeriesKey {
            name: name.into(),
            labels: pairs.into_boxed_slice(),
        })
    }

    /// A key from parts already checked (a family's names and its values).
    pub(crate) fn from_checked(name: Arc<str>, labels: Vec<(Arc<str>, Box<str>)>) -> Self {
        let mut labels = labels;
        labels.sort_by(|a, b| a.0.cmp(&b.0));
        SeriesKey {
            name,
            labels: labels.into_boxed_slice(),
        }
    }

    /// The metric name.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn name_arc(&self) -> &Arc<str> {
        &self.name
    }

    /// The labels, sorted by label name.
    pub fn labels(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + Clone {
        self.labels.iter().map(|(k, v)| (&**k, &**v))
    }

    /// The value of label `name`, if the series has it.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| &**k == name)
            .map(|(_, v)| &**v)
    }
}

impl fmt::Debug for SeriesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `name{label="value",...}`, values escaped as in Prometheus' text format.
impl fmt::Display for SeriesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if !self.labels.is_empty() {
            f.write_str("{")?;
            for (i, (k, v)) in self.labels.iter().enumerate() {
                let sep = if i == 0 { "" } else { "," };
                write!(f, "{sep}{k}=\"")?;
                for c in v.chars() {
                    match c {
                        '\\' => f.write_str("\\\\")?,
                        '"' => f.write_str("\\\"")?,
                        '\n' => f.write_str("\\n")?,
                        c => write!(f, "{c}")?,
                    }
                }
                f.write_str("\"")?;
            }
            f.write_str("}")?;
        }
        Ok(())
    }
}

/// The sample names series of `kind` named `name` are exposed under, in
/// every format (`export::prometheus`'s rule, which leaves out a family
/// that reuses another's): the family name (a counter's without `_total`)
/// and its suffixed samples. Two names with series never share one
/// ([`RegistryError::NameClash`]).
pub(crate) fn claims(name: &str, kind: Kind) -> Vec<String> {
    let (family, suffixes): (&str, &[&str]) = match kind {
        Kind::Counter => (
            match name.strip_suffix("_total") {
                Some(stem) if !stem.is_empty() => stem,
                _ => name,
            },
            &["", "_total", "_created"],
        ),
        Kind::Gauge => (name, &[""]),
        Kind::Histogram => (name, &["", "_bucket", "_count", "_sum", "_created"]),
    };
    suffixes.iter().map(|s| format!("{family}{s}")).collect()
}

/// A valid metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub(crate) fn check_name(name: &str) -> Result<(), RegistryError> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
    if ok {
        Ok(())
    } else {
        Err(RegistryError::InvalidName(name.to_string()))
    }
}

/// A valid label name: `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__`
/// (reserved for Prometheus' internal use).
pub(crate) fn check_label_name(label: &str) -> Result<(), RegistryError> {
    let mut chars = label.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !label.starts_with("__");
    if ok {
        Ok(())
    } else {
        Err(RegistryError::InvalidLabelName(label.to_string()))
    }
}

/// `name` made a valid metric name: every character outside
/// `[a-zA-Z0-9_:]` becomes `_`, as does a leading digit, and an empty name
/// becomes `_`. For names from sources with other rules (the `metrics`
/// facade's `http.requests`, say); returns `name` itself when it is valid.
///
/// ```
/// use lockfree_metrics::registry::sanitize_name;
///
/// assert_eq!(sanitize_name("http.requests-total"), "http_requests_total");
/// assert_eq!(sanitize_name("2xx"), "_xx");
/// assert_eq!(sanitize_name("ok_name"), "ok_name");
/// ```
pub fn sanitize_name(name: &str) -> Cow<'_, str> {
    if check_name(name).is_ok() {
        return Cow::Borrowed(name);
    }
    if name.is_empty() {
        return Cow::Borrowed("_");
    }
    Cow::Owned(
        name.chars()
            .enumerate()
            .map(|(i, c)| {
                let ok = c.is_ascii_alphabetic()
                    || c == '_'
                    || c == ':'
                    || (i > 0 && c.is_ascii_digit());
                if ok {
                    c
                } else {
                    '_'
                }
            })
            .collect(),
    )
}

/// `label` made a valid label name, as [`sanitize_name`] does, without
/// `:`; a reserved leading `__` becomes `_x_`.
///
/// ```
/// use lockfree_metrics::registry::sanitize_label_name;
///
/// assert_eq!(sanitize_label_name("http.method"), "http_method");
/// assert_eq!(sanitize_label_name("__name__"), "_x_name__");
/// ```
pub fn sanitize_label_name(label: &str) -> Cow<'_, str> {
    if check_label_name(label).is_ok() {
        return Cow::Borrowed(label);
    }
    if label.is_empty() {
        return Cow::Borrowed("_");
    }
    let mut out: String = label
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if c.is_ascii_alphabetic() || c == '_' || (i > 0 && c.is_ascii_digit()) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with("__") {
        out.replace_range(..2, "_x_");
    }
    Cow::Owned(out)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn keys_are_canonical_and_checked() {
        let a = SeriesKey::new("req_total", &[("b", "2"), ("a", "1")]).unwrap();
        let b = SeriesKey::new("req_total", &[("a", "1"), ("b", "2")]).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), r#"req_total{a="1",b="2"}"#);
        assert_eq!(a.label("b"), Some("2"));
        assert!(matches!(
            SeriesKey::new("1x", &[]),
            Err(RegistryError::InvalidName(_))
        ));
        assert!(matches!(
            SeriesKey::new("x", &[("a-b", "")]),
            Err(RegistryError::InvalidLabelName(_))
        ));
        assert!(matches!(
            SeriesKey::new("x", &[("__name__", "")]),
            Err(RegistryError::InvalidLabelName(_))
        ));
        assert!(matches!(
            SeriesKey::new("x", &[("a", "1"), ("a", "2")]),
            Err(RegistryError::DuplicateLabel(l)) if l == "a"
        ));
        assert!(matches!(
            SeriesKey::new("", &[]),
            Err(RegistryError::InvalidName(_))
        ));
    }

    #[test]
    fn display_escapes_values() {
        let k = SeriesKey::new("x", &[("v", "a\\b\"c\nd")]).unwrap();
        assert_eq!(k.to_string(), r#"x{v="a\\b\"c\nd"}"#);
    }

    #[test]
    fn sanitised_names_are_valid() {
        for raw in ["", "9", "a.b", "é", "__x", "a:b", "-", "_0"] {
            assert!(check_name(&sanitize_name(raw)).is_ok(), "{raw}");
            assert!(check_label_name(&sanitize_label_name(raw)).is_ok(), "{raw}");
        }
    }
}
