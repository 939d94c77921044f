//! Content negotiation: the `Accept` header (RFC 9110 §12.5.1) against
//! the three formats.

/// A Prometheus exposition format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    Text,
    /// OpenMetrics 1.0 text.
    OpenMetrics,
    /// Length-delimited `io.prometheus.client.MetricFamily` protobuf, the
    /// only format that carries native histograms. Written only with the
    /// crate feature `protobuf` (which `http` enables); without it
    /// [`Format::negotiate`] never picks it, and rendering it writes text
    /// 0.0.4 under [`TEXT_CONTENT_TYPE`] (see [`Format::is_available`]).
    Protobuf,
}

/// `text/plain; version=0.0.4; charset=utf-8`.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// `application/openmetrics-text; version=1.0.0; charset=utf-8`.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// `application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited`.
pub const PROTOBUF_CONTENT_TYPE: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

/// How closely an `Accept` range names a format: an exact type with its
/// parameters over an exact type, over `type/*`, over `*/*`.
type Specificity = u8;

impl Format {
    /// Every format, in the order preferred when a client ranks them
    /// equally: text first, the most widely read.
    pub const ALL: [Format; 3] = [Format::Text, Format::OpenMetrics, Format::Protobuf];

    /// Whether this build writes the format: [`Format::Protobuf`] needs
    /// the crate feature `protobuf` (its generated messages and `prost`);
    /// the text formats are always written.
    ///
    /// ```
    /// use lockfree_metrics::export::prometheus::Format;
    ///
    /// assert!(Format::Text.is_available());
    /// assert_eq!(Format::Protobuf.is_available(), cfg!(feature = "protobuf"));
    /// ```
    pub const fn is_available(self) -> bool {
        match self {
            Format::Text | Format::OpenMetrics => true,
            Format::Protobuf => cfg!(feature = "protobuf"),
        }
    }

    /// The format a rendering in `self` is written in: `self` if
    /// available, text 0.0.4 otherwise.
    pub(crate) const fn written(self) -> Format {
        if self.is_available() {
            self
        } else {
            Format::Text
        }
    }

    /// The `Content-Type` of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => TEXT_CONTENT_TYPE,
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
            Format::Protobuf => PROTOBUF_CONTENT_TYPE,
        }
    }

    /// The format to answer an `Accept` header with (`""` when there is
    /// none).
    ///
    /// Each format takes the q-value of the most specific range that
    /// matches it (`text/plain` with `version` absent or `0.0.4`;
    /// `application/openmetrics-text` with `version` absent or `1.0.0`;
    /// `application/vnd.google.protobuf` with
    /// `proto=io.prometheus.client.MetricFamily` and
    /// `encoding=delimited`; `type/*`; `*/*`). The highest q above 0
    /// wins; ties go to the range listed first, then to text, OpenMetrics,
    /// protobuf. With nothing acceptable, text 0.0.4 (as client_golang
    /// answers, rather than 406). Malformed ranges and q-values are
    /// skipped, and so is protobuf in a build without the `protobuf`
    /// feature ([`Format::is_available`]).
    ///
    /// ```
    /// use lockfree_metrics::export::prometheus::Format;
    ///
    /// // What Prometheus 2.42 sends by default, and with
    /// // --enable-feature=native-histograms.
    /// let default = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    /// let native = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    /// assert_eq!(Format::negotiate(default), Format::OpenMetrics);
    /// # #[cfg(feature = "protobuf")]
    /// assert_eq!(Format::negotiate(native), Format::Protobuf);
    /// # #[cfg(not(feature = "protobuf"))]
    /// # assert_eq!(Format::negotiate(native), Format::OpenMetrics);
    /// assert_eq!(Format::negotiate(""), Format::Text);
    /// assert_eq!(Format::negotiate("text/plain;q=0, */*"), Format::OpenMetrics);
    /// ```
    pub fn negotiate(accept: &str) -> Format {
        // Per format: (q, specificity, position) of its most specific range.
        let mut best: [Option<(f64, Specificity, usize)>; 3] = [None; 3];
        for (position, range) in accept.split(',').enumerate() {
            let Some((q, media, params)) = parse_range(range) else {
                continue;
            };
            for (slot, format) in best.iter_mut().zip(Format::ALL) {
                if !format.is_available() {
                    continue;
                }
                if let Some(specificity) = format.matches(&media, &params) {
                    if slot.is_none_or(|(_, s, _)| specificity > s) {
                        *slot = Some((q, specificity, position));
                    }
                }
            }
        }
        let mut chosen = Format::Text;
        let mut chosen_rank: Option<(f64, usize)> = None;
        for (slot, format) in best.iter().zip(Format::ALL) {
            let Some((q, _, position)) = *slot else {
                continue;
            };
            if q <= 0.0 {
                continue;
            }
            let better = match chosen_rank {
                None => true,
                Some((cq, cp)) => q > cq || (q == cq && position < cp),
            };
            if better {
                chosen = format;
                chosen_rank = Some((q, position));
            }
        }
        chosen
    }

    /// How specifically `media` (lower-cased `type/subtype`) with
    /// `params` (names lower-cased, q removed) names this format, if at
    /// all.
    fn matches(self, media: &str, params: &[(String, String)]) -> Option<Specificity> {
        let param = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let (exact, family) = match self {
            Format::Text => ("text/plain", "text/*"),
            Format::OpenMetrics => ("application/openmetrics-text", "application/*"),
            Format::Protobuf => ("application/vnd.google.protobuf", "application/*"),
        };
        if media == "*/*" {
            return Some(0);
        }
        if media == family {
            return Some(1);
        }
        if media != exact {
            return None;
        }
        match self {
            Format::Text => match param("version") {
                None => Some(2),
                Some("0.0.4") => Some(3),
                Some(_) => None,
            },
            Format::OpenMetrics => match param("version") {
                None => Some(2),
                Some("1.0.0") => Some(3),
                Some(_) => None,
            },
            Format::Protobuf => (param("proto") == Some("io.prometheus.client.MetricFamily")
                && param("encoding") == Some("delimited"))
            .then_some(3),
        }
    }
}

/// Parameters other than q: lower-cased names, unquoted values.
type Params = Vec<(String, String)>;

/// One `Accept` range: (q, `type/subtype` lower-cased, parameters);
/// `None` if malformed.
fn parse_range(range: &str) -> Option<(f64, String, Params)> {
    let mut parts = range.split(';');
    let media = parts.next()?.trim().to_ascii_lowercase();
    let (ty, subtype) = media.split_once('/')?;
    if ty.is_empty() || subtype.is_empty() || (ty == "*" && subtype != "*") {
        return None;
    }
    let mut q = 1.0;
    let mut params = Vec::new();
    for param in parts {
        let param = param.trim();
        if param.is_empty() {
            continue;
        }
        let (name, value) = param.split_once('=')?;
        let name = name.trim().to_ascii_lowercase();
        let value = value.trim().trim_matches('"');
        if name == "q" {
            q = value
                .parse::<f64>()
                .ok()
                .filter(|q| (0.0..=1.0).contains(q))?;
        } else {
            params.push((name, value.to_string()));
        }
    }
    Some((q, media, params))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Prometheus 2.42's `scrapeAcceptHeader` and
    /// `scrapeAcceptHeaderWithProtobuf` (scrape/scrape.go).
    const PROMETHEUS_2_42: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    const PROMETHEUS_2_42_PROTOBUF: &str = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    /// In the shape Prometheus 3 sends (escaping parameters, a text
    /// version 1.0.0 we do not offer).
    const PROMETHEUS_3: &str = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1";

    /// What a protobuf-first client gets: protobuf where this build
    /// writes it, else its next choice.
    fn protobuf_or(next: Format) -> Format {
        if cfg!(feature = "protobuf") {
            Format::Protobuf
        } else {
            next
        }
    }

    #[test]
    fn prometheus_accept_headers() {
        assert_eq!(Format::negotiate(PROMETHEUS_2_42), Format::OpenMetrics);
        assert_eq!(
            Format::negotiate(PROMETHEUS_2_42_PROTOBUF),
            protobuf_or(Format::OpenMetrics)
        );
        assert_eq!(Format::negotiate(PROMETHEUS_3), Format::OpenMetrics);
        // Only OpenMetrics 0.0.1 and text: text (0.0.1 is not offered).
        assert_eq!(
            Format::negotiate(
                "application/openmetrics-text;version=0.0.1,text/plain;version=0.0.4;q=0.5"
            ),
            Format::Text
        );
    }

    #[test]
    fn edge_cases() {
        let n = Format::negotiate;
        assert_eq!(n(""), Format::Text);
        assert_eq!(n("*/*"), Format::Text);
        assert_eq!(n("application/*"), Format::OpenMetrics);
        assert_eq!(n("text/*;q=0.2, application/*;q=0.3"), Format::OpenMetrics);
        assert_eq!(n("application/json"), Format::Text);
        assert_eq!(n("garbage"), Format::Text);
        assert_eq!(n(";;,,"), Format::Text);
        assert_eq!(n("text/plain;version=9.9.9"), Format::Text); // nothing acceptable
                                                                 // Case, spaces and quotes do not matter.
        assert_eq!(
            n(" APPLICATION/OpenMetrics-Text ; Version=\"1.0.0\" ; Q=0.9 , text/plain;q=0.1"),
            Format::OpenMetrics
        );
        // The most specific range sets a format's q.
        assert_eq!(
            n("text/plain;version=0.0.4;q=0, */*;q=1"),
            Format::OpenMetrics
        );
        assert_eq!(n("*/*;q=0.1, text/plain;q=0.9"), Format::Text);
        // Protobuf needs both parameters.
        assert_eq!(n("application/vnd.google.protobuf"), Format::Text);
        assert_eq!(
            n("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text"),
            Format::Text
        );
        assert_eq!(
            n("application/vnd.google.protobuf;encoding=delimited;proto=io.prometheus.client.MetricFamily"),
            protobuf_or(Format::Text)
        );
        // Equal q: the range listed first; then text, OpenMetrics, protobuf.
        assert_eq!(
            n("application/openmetrics-text, text/plain"),
            Format::OpenMetrics
        );
        assert_eq!(n("text/plain, application/openmetrics-text"), Format::Text);
        // Bad q-values drop their range.
        assert_eq!(
            n("application/openmetrics-text;q=2, text/plain;q=0.1"),
            Format::Text
        );
        assert_eq!(n("application/openmetrics-text;q=abc"), Format::Text);
        assert_eq!(
            n("application/openmetrics-text;q=0.001"),
            Format::OpenMetrics
        );
        assert_eq!(n("application/openmetrics-text;q=0"), Format::Text);
    }
}
