//! Registry histograms in HdrHistogram's own formats: the V2 and
//! V2+DEFLATE encodings, and interval logs of them, one tag per series.
//!
//! # Formats
//!
//! All three are defined by HdrHistogram's Java implementation (Gil Tene,
//! <https://github.com/HdrHistogram/HdrHistogram>), the reference the other
//! implementations follow; the bytes are written by the `hdrhistogram`
//! crate's serialisers (`hdrhistogram::serialization`, 7.6), and the log
//! lines are formatted here exactly as its `IntervalLogWriter` and Java's
//! `HistogramLogWriter` format them.
//!
//! - **V2** (Java `AbstractHistogram.encodeIntoByteBuffer`, cookie
//!   `0x1c849303 | 0x10`): a 40-byte big-endian header (cookie, payload length,
//!   normalising index offset, significant digits, lowest discernible value,
//!   highest trackable value, integer-to-double ratio), then the counts up to
//!   the highest recorded one, ZigZag LEB128, a run of zeros as one negative
//!   number.
//! - **V2+DEFLATE** (`encodeIntoCompressedByteBuffer`, cookie
//!   `0x1c849304 | 0x10`): the cookie, a length, and the V2 bytes in zlib. Java's log reader
//!   decodes only this one, so interval logs always use it.
//! - **Interval log** (`HistogramLogWriter` / `HistogramLogReader`, format
//!   version 1.3): `#` comment lines, `#[StartTime: s (seconds since
//!   epoch), date]` and `#[BaseTime: s (seconds since epoch)]` headers, a
//!   legend line, then one line per histogram,
//!   `[Tag=tag,]start,length,max,base64(V2+DEFLATE)`: seconds since
//!   BaseTime, seconds, the histogram's max divided by a max value divisor,
//!   all with 3 decimals. Java's `HistogramLogReader` (behind
//!   `HistogramLogProcessor`, which `tests/export/hdr_log.rs` runs on these logs,
//!   and `HistogramLogAnalyzer`) and the Rust crate's
//!   [`IntervalLogIterator`](hdrhistogram::serialization::interval_log::IntervalLogIterator)
//!   read it.
//!
//! Every encoding keeps the registry's layout (lowest, highest, digits), so
//! a decoded histogram has exactly the snapshot's buckets, and histograms
//! of one layout from any number of threads, processes or machines merge
//! exactly with `hdrhistogram`'s `add`. Java's tools read histograms whose
//! highest trackable value fits an `i64` (the default, one hour in ns,
//! does); a histogram made with a larger one is written, and the Rust
//! crate reads it, but `HistogramLogProcessor` refuses the log.
//!
//! # Tags
//!
//! Java's reader splits lines on `[ ,\r\n]` (and reads the file in the
//! platform charset); the Rust crate's [`Tag::new`] refuses `,`, `\r`, `\n`
//! and space. A series key becomes a tag of printable ASCII only
//! ([`tag_for`]):
//!
//! - `name` for a series without labels;
//! - `name{label=value;label=value}` otherwise, labels in the key's
//!   (sorted) order, each value percent-encoded: its UTF-8 bytes outside
//!   ASCII `!`..=`~`, and the bytes of `% , ; = { } " \`, become `%XX`
//!   (upper-case hex).
//!
//! Metric and label names cannot hold `{`, `=` or `;`, and encoded values
//! hold no `;`, so the mapping is injective: [`key_for_tag`] inverts it,
//! and accepts only the tags it produces.
//!
//! # The max column
//!
//! A line's max is for people reading the log (readers ignore it): the
//! histogram's max divided by `max(scale / 1000, 1)`, where `scale` is the
//! series' [`HistogramOpts::scale`](crate::registry::HistogramOpts::scale)
//! (units per second). At the default scale of 1e9 (nanoseconds) that is
//! 1e6: milliseconds, as Java's `HistogramLogWriter` writes by default and
//! as `HistogramLogProcessor`'s default `-outputValueUnitRatio` (1e6)
//! prints. A histogram of plain quantities (scale 1) keeps its unit.
//! [`IntervalLogBuilder::max_value_divisor`] fixes one divisor for every
//! line instead (written as `#[MaxValueDivisor: d]`, as the Rust crate
//! does). Run the processor with `-outputValueUnitRatio` equal to a tag's
//! divisor to read its figures in the max column's unit.
//!
//! # Example
//!
//! ```
//! use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
//! use lockfree_metrics::export::hdr_log::{self, IntervalLog, IntervalLogger};
//! use lockfree_metrics::registry::Registry;
//!
//! let registry = Registry::new();
//! let get = registry.histogram("rpc_seconds", &[("method", "GET"), ("path", "/a b")])?;
//! let mut logger = IntervalLogger::new(&registry, IntervalLog::new(Vec::new())?);
//! get.record(2_000_000); // 2 ms
//! logger.log_interval()?;
//! get.record(3_000_000);
//! get.record(5_000_000);
//! logger.log_interval()?;
//!
//! let log = logger.into_log().into_inner();
//! let mut counts = Vec::new();
//! for entry in IntervalLogIterator::new(&log) {
//!     if let LogEntry::Interval(line) = entry.unwrap() {
//!         assert_eq!(line.tag().unwrap().as_str(), "rpc_seconds{method=GET;path=/a%20b}");
//!         counts.push(hdr_log::decode_interval(&line)?.len());
//!     }
//! }
//! assert_eq!(counts, [1, 2]); // intervals, not running totals
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::{
    fmt::{self, Write as _},
    io::{self, Write},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use base64::Engine as _;
use hdrhistogram::{
    serialization::{
        interval_log::{IntervalLogHistogram, Tag},
        Deserializer, Serializer as _, V2DeflateSerializer, V2Serializer,
    },
    Histogram,
};

use crate::registry::{
    HistogramOpts, HistogramValue, IntervalReader, Registry, RegistrySnapshot, SeriesKey,
};

/// Which V2 encoding to write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Compression {
    /// V2: the counts as ZigZag LEB128 (cookie `0x1c849313`).
    None,
    /// V2+DEFLATE: V2 in zlib (cookie `0x1c849314`); what logs hold.
    #[default]
    Deflate,
}

/// Reusable V2 / V2+DEFLATE serialisers (each keeps its buffers between
/// histograms).
///
/// ```
/// use lockfree_metrics::export::hdr_log::{self, Compression, Serializer};
/// use lockfree_metrics::registry::Registry;
///
/// let registry = Registry::new();
/// registry.histogram("latency_seconds", &[])?.record(1_500);
/// let snapshot = registry.snapshot();
/// let h = snapshot.get("latency_seconds", &[]).unwrap().as_histogram().unwrap();
///
/// let mut serializer = Serializer::new();
/// let bytes = serializer.to_bytes(h, Compression::None)?;
/// assert_eq!(&bytes[..4], &[0x1c, 0x84, 0x93, 0x13]); // the V2 cookie
/// let decoded = hdr_log::deserialize(&bytes)?;
/// assert_eq!(decoded, h.to_hdr());
/// assert!(serializer.to_base64(h, Compression::Deflate)?.starts_with("HISTF"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Default)]
pub struct Serializer {
    v2: V2Serializer,
    deflate: V2DeflateSerializer,
    bytes: Vec<u8>,
}

impl fmt::Debug for Serializer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Serializer").finish_non_exhaustive()
    }
}

impl Serializer {
    /// Serialisers with empty buffers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `h`'s encoding to `out`; returns the bytes appended.
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::InvalidData`] if a count exceeds `i64::MAX`, which
    /// V2 cannot encode.
    pub fn encode(
        &mut self,
        h: &HistogramValue,
        compression: Compression,
        out: &mut Vec<u8>,
    ) -> io::Result<usize> {
        self.encode_hdr(&h.to_hdr(), compression, out)
    }

    /// [`encode`](Self::encode) for an `hdrhistogram` histogram (a merge of
    /// decoded ones, say).
    ///
    /// # Errors
    ///
    /// As [`encode`](Self::encode).
    pub fn encode_hdr(
        &mut self,
        h: &Histogram<u64>,
        compression: Compression,
        out: &mut Vec<u8>,
    ) -> io::Result<usize> {
        match compression {
            Compression::None => self.v2.serialize(h, out).map_err(invalid),
            Compression::Deflate => self.deflate.serialize(h, out).map_err(invalid),
        }
    }

    /// `h`'s encoding.
    ///
    /// # Errors
    ///
    /// As [`encode`](Self::encode).
    pub fn to_bytes(
        &mut self,
        h: &HistogramValue,
        compression: Compression,
    ) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.encode(h, compression, &mut out)?;
        Ok(out)
    }

    /// `h`'s encoding in base64 (standard alphabet, padded), as log lines
    /// hold it.
    ///
    /// # Errors
    ///
    /// As [`encode`](Self::encode).
    pub fn to_base64(
        &mut self,
        h: &HistogramValue,
        compression: Compression,
    ) -> io::Result<String> {
        let mut out = String::new();
        self.append_base64(&h.to_hdr(), compression, &mut out)?;
        Ok(out)
    }

    fn append_base64(
        &mut self,
        h: &Histogram<u64>,
        compression: Compression,
        out: &mut String,
    ) -> io::Result<()> {
        let mut bytes = std::mem::take(&mut self.bytes);
        bytes.clear();
        let encoded = self.encode_hdr(h, compression, &mut bytes);
        if encoded.is_ok() {
            base64::engine::general_purpose::STANDARD.encode_string(&bytes, out);
        }
        self.bytes = bytes;
        encoded.map(drop)
    }
}

fn invalid<E>(e: E) -> io::Error
where
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// `h` encoded as V2 or V2+DEFLATE (see [`Serializer`] to reuse buffers).
///
/// # Errors
///
/// As [`Serializer::encode`].
pub fn serialize(h: &HistogramValue, compression: Compression) -> io::Result<Vec<u8>> {
    Serializer::new().to_bytes(h, compression)
}

/// `h` encoded as V2 or V2+DEFLATE, in base64.
///
/// # Errors
///
/// As [`Serializer::encode`].
pub fn to_base64(h: &HistogramValue, compression: Compression) -> io::Result<String> {
    Serializer::new().to_base64(h, compression)
}

/// A histogram from V2 or V2+DEFLATE bytes (either: the cookie says which).
///
/// # Errors
///
/// [`io::ErrorKind::InvalidData`] for bytes that are not a V2 histogram
/// `hdrhistogram` can read into `u64` counts.
pub fn deserialize(bytes: &[u8]) -> io::Result<Histogram<u64>> {
    Deserializer::new()
        .deserialize(&mut &bytes[..])
        .map_err(invalid)
}

/// A histogram from base64 of V2 or V2+DEFLATE bytes.
///
/// # Errors
///
/// [`io::ErrorKind::InvalidData`] for text that is not base64, or not of a
/// histogram (as [`deserialize`]).
pub fn from_base64(text: &str) -> io::Result<Histogram<u64>> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(invalid)?;
    deserialize(&bytes)
}

/// The histogram of a parsed log line.
///
/// # Errors
///
/// As [`from_base64`].
pub fn decode_interval(line: &IntervalLogHistogram<'_>) -> io::Result<Histogram<u64>> {
    from_base64(line.encoded_histogram())
}

/// Label-value bytes kept as they are in a tag: printable ASCII but the
/// escape, the separators of tags (`,`), labels (`;` `=` `{` `}`) and the
/// characters shells and Prometheus quote (`"` `\`).
fn kept_in_tag(b: u8) -> bool {
    b.is_ascii_graphic() && !matches!(b, b'%' | b',' | b';' | b'=' | b'{' | b'}' | b'"' | b'\\')
}

/// The interval-log tag of a series (see [Tags](self#tags)): `name`, or
/// `name{label=value;...}` with values percent-encoded; printable ASCII,
/// never a `,`, space or line break, and a different tag for every key.
///
/// ```
/// use lockfree_metrics::export::hdr_log::{key_for_tag, tag_for};
/// use lockfree_metrics::registry::SeriesKey;
///
/// let key = SeriesKey::new("rpc_seconds", &[("path", "/a,b c"), ("method", "GET")])?;
/// assert_eq!(tag_for(&key), "rpc_seconds{method=GET;path=/a%2Cb%20c}");
/// assert_eq!(key_for_tag(&tag_for(&key)), Some(key));
/// assert_eq!(tag_for(&SeriesKey::new("up", &[])?), "up");
/// # Ok::<(), lockfree_metrics::registry::RegistryError>(())
/// ```
pub fn tag_for(key: &SeriesKey) -> String {
    let mut tag = String::with_capacity(key.name().len());
    tag.push_str(key.name());
    let labels = key.labels();
    if labels.len() == 0 {
        return tag;
    }
    tag.push('{');
    let mut first = true;
    for (name, value) in labels {
        if !first {
            tag.push(';');
        }
        first = false;
        tag.push_str(name);
        tag.push('=');
        for &b in value.as_bytes() {
            if kept_in_tag(b) {
                tag.push(char::from(b));
            } else {
                // Writing to a String cannot fail.
                let _ = write!(tag, "%{b:02X}");
            }
        }
    }
    tag.push('}');
    tag
}

/// The series key a tag from [`tag_for`] came from; `None` for any other
/// text.
pub fn key_for_tag(tag: &str) -> Option<SeriesKey> {
    let (name, labels) = match tag.split_once('{') {
        None => (tag, None),
        Some((name, rest)) => (name, Some(rest.strip_suffix('}')?)),
    };
    let mut pairs = Vec::new();
    if let Some(labels) = labels {
        for pair in labels.split(';') {
            let (label, value) = pair.split_once('=')?;
            pairs.push((label, percent_decode(value)?));
        }
    }
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(l, v)| (*l, v.as_str())).collect();
    let key = SeriesKey::new(name, &pairs).ok()?;
    // Only the canonical spelling (sorted labels, minimal escapes) is a tag
    // of this key: one key, one tag, and back.
    (tag_for(&key) == tag).then_some(key)
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The divisor of a series' max column (see [The max column](self#the-max-column)):
/// `max(scale / 1000, 1)`, 1e6 at the default scale (milliseconds of
/// nanosecond histograms).
pub fn default_max_value_divisor(opts: &HistogramOpts) -> f64 {
    (opts.get_scale() / 1e3).max(1.0)
}

/// Settings of an [`IntervalLog`].
#[derive(Clone, Debug, Default)]
pub struct IntervalLogBuilder {
    comments: Vec<String>,
    start_time: Option<SystemTime>,
    base_time: Option<SystemTime>,
    max_value_divisor: Option<f64>,
    skip_empty: bool,
}

impl IntervalLogBuilder {
    /// Default settings: StartTime and BaseTime when the log is begun, the
    /// per-series max divisor, empty histograms written.
    pub fn new() -> Self {
        Self::default()
    }

    /// A comment line for the header (a comment with line breaks becomes
    /// several).
    pub fn comment(mut self, text: &str) -> Self {
        self.comments.push(text.to_string());
        self
    }

    /// The StartTime header: when whatever the log measures began (by
    /// default, when the log is begun).
    pub fn start_time(mut self, time: SystemTime) -> Self {
        self.start_time = Some(time);
        self
    }

    /// The BaseTime header, which interval start times are written
    /// relative to (by default, the StartTime). An interval starting before
    /// it is written as starting at 0.
    pub fn base_time(mut self, time: SystemTime) -> Self {
        self.base_time = Some(time);
        self
    }

    /// One max value divisor for every line, instead of each series'
    /// [`default_max_value_divisor`]; ignored unless finite and above 0.
    pub fn max_value_divisor(mut self, divisor: f64) -> Self {
        self.max_value_divisor = (divisor.is_finite() && divisor > 0.0).then_some(divisor);
        self
    }

    /// Leaves out histograms that counted nothing in their interval (by
    /// default they are written, so every tag has a line per interval).
    pub fn skip_empty(mut self, skip: bool) -> Self {
        self.skip_empty = skip;
        self
    }

    /// Writes the header to `writer` and returns the log.
    ///
    /// # Errors
    ///
    /// The writer's.
    pub fn begin<W: Write>(self, mut writer: W) -> io::Result<IntervalLog<W>> {
        let start_time = self.start_time.unwrap_or_else(SystemTime::now);
        let base_time = self.base_time.unwrap_or(start_time);
        let mut header = String::new();
        for comment in &self.comments {
            for line in comment.split('\n') {
                let _ = writeln!(header, "#{}", line.trim_end_matches('\r'));
            }
        }
        // The lines Java's HistogramLogWriter begins a log with.
        let _ = writeln!(header, "#[Histogram log format version 1.3]");
        let start = epoch_seconds(start_time);
        let _ = writeln!(
            header,
            "#[StartTime: {start:.3} (seconds since epoch), {}]",
            rfc3339(start_time)
        );
        let _ = writeln!(
            header,
            "#[BaseTime: {:.3} (seconds since epoch)]",
            epoch_seconds(base_time)
        );
        match self.max_value_divisor {
            Some(d) => {
                let _ = writeln!(header, "#[MaxValueDivisor: {d:.3}]");
            }
            None => {
                let _ = writeln!(
                    header,
                    "#max column: a histogram's max / max(its scale / 1000, 1) (ms of ns histograms)"
                );
            }
        }
        let _ = writeln!(
            header,
            "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\""
        );
        writer.write_all(header.as_bytes())?;
        Ok(IntervalLog {
            writer,
            serializer: Serializer::new(),
            line: String::new(),
            start_time,
            base_time,
            max_value_divisor: self.max_value_divisor,
            skip_empty: self.skip_empty,
        })
    }
}

/// Seconds since the epoch (negative before it).
fn epoch_seconds(time: SystemTime) -> f64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// `time` as an RFC 3339 UTC date, for the StartTime header's human part
/// (Java writes its `Date.toString()` there; readers skip it).
fn rfc3339(time: SystemTime) -> String {
    let Ok(since) = time.duration_since(UNIX_EPOCH) else {
        return "before 1970".to_string();
    };
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil from days (Howard Hinnant's algorithm), for dates after 1970.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

/// An interval log over any writer: one line per histogram series per
/// interval, tagged with the series' [`tag_for`] (see the [module
/// docs](self)).
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
/// use lockfree_metrics::export::hdr_log::{IntervalLogBuilder, decode_interval};
/// use lockfree_metrics::registry::Registry;
///
/// let registry = Registry::new();
/// let mut reader = registry.interval_reader();
/// let start = SystemTime::now();
/// let mut log = IntervalLogBuilder::new().start_time(start).begin(Vec::new())?;
/// registry.histogram("db_seconds", &[("op", "read")])?.record(250_000);
/// let lines = log.write_interval(&reader.take(), start, Duration::from_secs(1))?;
/// assert_eq!(lines, 1);
///
/// let text = log.into_inner();
/// let entries: Vec<LogEntry> = IntervalLogIterator::new(&text).map(Result::unwrap).collect();
/// assert!(matches!(entries[0], LogEntry::StartTime(_)));
/// assert!(matches!(entries[1], LogEntry::BaseTime(_)));
/// let LogEntry::Interval(line) = &entries[2] else { panic!() };
/// assert_eq!(line.tag().unwrap().as_str(), "db_seconds{op=read}");
/// assert_eq!(line.duration(), Duration::from_secs(1));
/// assert_eq!(line.max(), 0.251); // ms: the top of 250,000 ns's bucket, 250,879 ns
/// assert_eq!(decode_interval(line)?.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct IntervalLog<W: Write> {
    writer: W,
    serializer: Serializer,
    line: String,
    start_time: SystemTime,
    base_time: SystemTime,
    max_value_divisor: Option<f64>,
    skip_empty: bool,
}

impl<W: Write> fmt::Debug for IntervalLog<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntervalLog")
            .field("start_time", &self.start_time)
            .field("base_time", &self.base_time)
            .field("max_value_divisor", &self.max_value_divisor)
            .field("skip_empty", &self.skip_empty)
            .finish_non_exhaustive()
    }
}

impl<W: Write> IntervalLog<W> {
    /// A log with the default settings ([`IntervalLogBuilder::new`]),
    /// its header written.
    ///
    /// # Errors
    ///
    /// The writer's.
    pub fn new(writer: W) -> io::Result<Self> {
        IntervalLogBuilder::new().begin(writer)
    }

    /// The StartTime header's time.
    pub fn start_time(&self) -> SystemTime {
        self.start_time
    }

    /// The BaseTime header's time: lines' start times count from it.
    pub fn base_time(&self) -> SystemTime {
        self.base_time
    }

    /// Writes a line for each histogram series of `snapshot` (what was
    /// recorded from `start` for `duration`: an [`IntervalReader::take`]),
    /// in the snapshot's order; other series are skipped. Returns the lines
    /// written.
    ///
    /// # Errors
    ///
    /// The writer's, or [`io::ErrorKind::InvalidData`] for a count V2
    /// cannot encode (the lines before it are written).
    pub fn write_interval(
        &mut self,
        snapshot: &RegistrySnapshot,
        start: SystemTime,
        duration: Duration,
    ) -> io::Result<usize> {
        let mut lines = 0;
        for series in snapshot.iter() {
            let Some(h) = series.as_histogram() else {
                continue;
            };
            if self.skip_empty && h.count() == 0 {
                continue;
            }
            let divisor = self
                .max_value_divisor
                .unwrap_or_else(|| default_max_value_divisor(&h.opts()));
            self.write_line(
                Some(&tag_for(&series.key)),
                &h.to_hdr(),
                divisor,
                start,
                duration,
            )?;
            lines += 1;
        }
        Ok(lines)
    }

    /// Writes one histogram's line, with `tag` if given (an `hdrhistogram`
    /// histogram: a merge of several series, say). Its max is divided by
    /// the log's fixed divisor, or by 1e6 without one (Java's default).
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::InvalidInput`] for a tag [`Tag::new`] refuses, or
    /// as [`write_interval`](Self::write_interval).
    pub fn write_histogram(
        &mut self,
        tag: Option<&str>,
        h: &Histogram<u64>,
        start: SystemTime,
        duration: Duration,
    ) -> io::Result<()> {
        if let Some(t) = tag {
            if Tag::new(t).is_none() || t.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{t:?} is not an interval-log tag (empty, or holds `,`, space or a line break)"),
                ));
            }
        }
        let divisor = self.max_value_divisor.unwrap_or(1e6);
        self.write_line(tag, h, divisor, start, duration)
    }

    fn write_line(
        &mut self,
        tag: Option<&str>,
        h: &Histogram<u64>,
        divisor: f64,
        start: SystemTime,
        duration: Duration,
    ) -> io::Result<()> {
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        if let Some(tag) = tag {
            let _ = write!(line, "Tag={tag},");
        }
        // Readers take no negative times: an interval before BaseTime
        // starts at 0.
        let offset = start.duration_since(self.base_time).unwrap_or_default();
        let _ = write!(
            line,
            "{:.3},{:.3},{:.3},",
            offset.as_secs_f64(),
            duration.as_secs_f64(),
            h.max() as f64 / divisor
        );
        let written = self
            .serializer
            .append_base64(h, Compression::Deflate, &mut line)
            .and_then(|()| {
                line.push('\n');
                // One write per line, so a writer shared by lines sees each
                // whole.
                self.writer.write_all(line.as_bytes())
            });
        self.line = line;
        written
    }

    /// Writes a comment line (a comment with line breaks becomes several).
    ///
    /// # Errors
    ///
    /// The writer's.
    pub fn write_comment(&mut self, text: &str) -> io::Result<()> {
        let mut out = String::new();
        for line in text.split('\n') {
            let _ = writeln!(out, "#{}", line.trim_end_matches('\r'));
        }
        self.writer.write_all(out.as_bytes())
    }

    /// Flushes the writer.
    ///
    /// # Errors
    ///
    /// The writer's.
    pub fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }

    /// The writer.
    pub fn get_ref(&self) -> &W {
        &self.writer
    }

    /// The writer, mutably (writing to it directly can break the log).
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.writer
    }

    /// The writer, the log ended (nothing is written at the end of a log).
    pub fn into_inner(self) -> W {
        self.writer
    }
}

/// An [`IntervalLog`] fed by an [`IntervalReader`] of its own: each
/// [`log_interval`](Self::log_interval) writes what the registry's
/// histograms recorded since the previous one (or since the logger was
/// made), timed by a monotonic clock.
///
/// **Every record lies within the span of the interval it is logged in.**
/// An interval ends at a clock reading taken after the take that ends
/// it, and the next one starts at a reading taken before that take, so
/// consecutive intervals overlap by the length of one take (microseconds
/// for a few series, milliseconds for many thousands): a record made
/// during a take may land in either interval, and both spans hold it.
///
/// ```
/// use lockfree_metrics::export::hdr_log::{IntervalLog, IntervalLogger};
/// use lockfree_metrics::registry::Registry;
///
/// let registry = Registry::new();
/// let h = registry.histogram("io_seconds", &[])?;
/// let mut logger = IntervalLogger::new(&registry, IntervalLog::new(Vec::new())?);
/// h.record(1_000);
/// assert_eq!(logger.log_interval()?, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct IntervalLogger<W: Write> {
    reader: IntervalReader,
    log: IntervalLog<W>,
    interval_start: SystemTime,
    interval_began: Instant,
}

impl<W: Write> fmt::Debug for IntervalLogger<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntervalLogger")
            .field("log", &self.log)
            .field("interval_start", &self.interval_start)
            .finish_non_exhaustive()
    }
}

impl<W: Write> IntervalLogger<W> {
    /// A logger of `registry`'s histograms into `log`; the first interval
    /// starts now.
    pub fn new(registry: &Registry, log: IntervalLog<W>) -> Self {
        IntervalLogger {
            reader: registry.interval_reader(),
            log,
            interval_start: SystemTime::now(),
            interval_began: Instant::now(),
        }
    }

    /// Writes the interval since the previous call and flushes the log;
    /// returns the lines written. The interval's records are taken from
    /// the reader first, so after an error they are in no line.
    ///
    /// # Errors
    ///
    /// As [`IntervalLog::write_interval`] and [`IntervalLog::flush`].
    pub fn log_interval(&mut self) -> io::Result<usize> {
        // The next interval starts before this take begins, and this one
        // ends after it finishes: a record made during the take may land
        // on either side, and lies within the span of the one it is in.
        let before = Instant::now();
        let snapshot = self.reader.take();
        let after = Instant::now();
        let start = self.interval_start;
        let duration = after.duration_since(self.interval_began);
        let next = before.duration_since(self.interval_began);
        self.interval_began = before;
        // A clock past SystemTime's range keeps the start (never panics).
        self.interval_start = start.checked_add(next).unwrap_or(start);
        let lines = self.log.write_interval(&snapshot, start, duration)?;
        self.log.flush()?;
        Ok(lines)
    }

    /// The log.
    pub fn log(&self) -> &IntervalLog<W> {
        &self.log
    }

    /// The log, mutably (for comments).
    pub fn log_mut(&mut self) -> &mut IntervalLog<W> {
        &mut self.log
    }

    /// The log; the records since the last interval are not written.
    pub fn into_log(self) -> IntervalLog<W> {
        self.log
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    use proptest::prelude::*;

    use super::*;
    use crate::registry::Registry;

    /// Label values a tag must survive: separators of both readers, the
    /// escape, every kind of line break, non-ASCII, control bytes.
    const ODD_VALUES: &[&str] = &[
        "",
        " ",
        ",",
        "a,b c",
        "%",
        "%41",
        ";",
        "=",
        "{}",
        "\"quoted\"",
        "back\\slash",
        "line\nbreak",
        "cr\rlf\r\n",
        "tab\there",
        "nul\0",
        "é",
        "\u{2028}\u{85}",
        "🦀",
        "/api/v1/items?id=3&x=%20",
        "Tag=x,1.0,2.0",
        "#comment",
    ];

    fn recorded(registry: &Registry, name: &str, labels: &[(&str, &str)]) -> HistogramValue {
        registry
            .snapshot()
            .get(name, labels)
            .and_then(|s| s.as_histogram().cloned())
            .expect("a histogram series")
    }

    /// A spread of values over most of the default range, some repeated.
    fn workload(registry: &Registry) -> HistogramValue {
        let h = registry.histogram("rt_seconds", &[]).unwrap();
        let mut x = 0x9E37_79B9_7F4A_7C15_u64;
        for _ in 0..5_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // 1 ns .. ~1.1e12 ns, log-spread.
            h.record((x >> 24) >> (x % 40));
        }
        h.record_n(3_600_000_000_000, 3); // the highest trackable value
        recorded(registry, "rt_seconds", &[])
    }

    #[test]
    fn v2_and_deflate_round_trip_with_the_snapshot_buckets() {
        let registry = Registry::new();
        let h = workload(&registry);
        let mut serializer = Serializer::new();
        for (compression, cookie) in [
            (Compression::None, 0x1c84_9313_u32),
            (Compression::Deflate, 0x1c84_9314),
        ] {
            // Twice: the serialisers' reused buffers leave nothing behind.
            for _ in 0..2 {
                let bytes = serializer.to_bytes(&h, compression).unwrap();
                assert_eq!(u32::from_be_bytes(bytes[..4].try_into().unwrap()), cookie);
                let decoded = deserialize(&bytes).unwrap();
                assert_eq!(decoded, h.to_hdr(), "{compression:?}");
                assert_eq!(decoded.len(), h.count());
                assert_eq!((decoded.min(), decoded.max()), (h.min(), h.max()));
                let buckets: Vec<(u64, u64, u64)> = decoded
                    .iter_recorded()
                    .map(|v| {
                        let top = v.value_iterated_to();
                        (decoded.lowest_equivalent(top), top, v.count_at_value())
                    })
                    .collect();
                let expected: Vec<(u64, u64, u64)> =
                    h.buckets().map(|b| (b.low, b.high, b.count)).collect();
                assert_eq!(buckets, expected, "{compression:?}");
                let text = serializer.to_base64(&h, compression).unwrap();
                assert_eq!(from_base64(&text).unwrap(), decoded);
                assert_eq!(serialize(&h, compression).unwrap(), bytes);
            }
        }
        // The layout travels: lowest, highest and digits as made.
        let opts = HistogramOpts::new(1_000, 1 << 40, 3).unwrap();
        let other = registry.histogram_with("us_seconds", &[], opts).unwrap();
        other.record(123_456_789);
        let decoded = deserialize(
            &serialize(
                &recorded(&registry, "us_seconds", &[]),
                Compression::Deflate,
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(decoded.low(), 1_000);
        assert_eq!(decoded.high(), 1 << 40);
        assert_eq!(decoded.sigfig(), 3);
        assert_eq!(decoded.max(), decoded.highest_equivalent(123_456_789));
    }

    #[test]
    fn empty_histograms_encode_and_log() {
        let registry = Registry::new();
        registry.histogram("idle_seconds", &[]).unwrap();
        let h = recorded(&registry, "idle_seconds", &[]);
        for compression in [Compression::None, Compression::Deflate] {
            let decoded = deserialize(&serialize(&h, compression).unwrap()).unwrap();
            assert_eq!((decoded.len(), decoded.max()), (0, 0));
        }
        let mut reader = registry.interval_reader();
        let mut log = IntervalLog::new(Vec::new()).unwrap();
        let now = SystemTime::now();
        assert_eq!(
            log.write_interval(&reader.take(), now, Duration::ZERO)
                .unwrap(),
            1
        );
        let text = log.into_inner();
        let lines = intervals(&text);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].0.as_deref(), Some("idle_seconds"));
        assert_eq!(lines[0].3.len(), 0);
        // Skipped when asked.
        let mut log = IntervalLogBuilder::new()
            .skip_empty(true)
            .begin(Vec::new())
            .unwrap();
        assert_eq!(
            log.write_interval(&reader.take(), now, Duration::ZERO)
                .unwrap(),
            0
        );
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        for text in ["", "not base64!", "AAAA", "HISTFAAAACF4nJNpmSzMwMDA"] {
            assert_eq!(
                from_base64(text).unwrap_err().kind(),
                io::ErrorKind::InvalidData,
                "{text:?}"
            );
        }
        assert!(deserialize(&[0x1c, 0x84, 0x93, 0x14, 0, 0, 0, 9, 1, 2]).is_err());
        let mut log = IntervalLog::new(Vec::new()).unwrap();
        let h = Histogram::<u64>::new_with_bounds(1, 1_000, 2).unwrap();
        let now = SystemTime::now();
        for tag in ["", "a b", "a,b", "a\nb", "a\rb"] {
            let e = log.write_histogram(Some(tag), &h, now, Duration::ZERO);
            assert_eq!(
                e.unwrap_err().kind(),
                io::ErrorKind::InvalidInput,
                "{tag:?}"
            );
        }
        log.write_histogram(Some("ok"), &h, now, Duration::ZERO)
            .unwrap();
        log.write_histogram(None, &h, now, Duration::ZERO).unwrap();
        let text = log.into_inner();
        let tags: Vec<Option<String>> = intervals(&text).into_iter().map(|l| l.0).collect();
        assert_eq!(tags, [Some("ok".to_string()), None]);
    }

    /// Fails every write after `budget` bytes.
    struct Failing {
        budget: usize,
    }

    impl Write for Failing {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if buf.len() > self.budget {
                return Err(io::Error::other("disk full"));
            }
            self.budget -= buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn io_errors_are_returned() {
        assert_eq!(
            IntervalLog::new(Failing { budget: 10 })
                .unwrap_err()
                .to_string(),
            "disk full"
        );
        let registry = Registry::new();
        registry.histogram("a_seconds", &[]).unwrap().record(5);
        // Room for the header and part of a line.
        let start = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let header = IntervalLogBuilder::new()
            .start_time(start)
            .begin(Vec::new());
        let budget = header.unwrap().into_inner().len() + 10;
        let mut logger = IntervalLogger::new(
            &registry,
            IntervalLogBuilder::new()
                .start_time(start)
                .begin(Failing { budget })
                .unwrap(),
        );
        registry.histogram("a_seconds", &[]).unwrap().record(5);
        assert_eq!(logger.log_interval().unwrap_err().to_string(), "disk full");
    }

    #[test]
    fn odd_label_values_make_valid_distinct_tags() {
        let mut seen = std::collections::HashSet::new();
        for &value in ODD_VALUES {
            for labels in [vec![("v", value)], vec![("v", value), ("a", value)]] {
                let key = SeriesKey::new("odd_seconds", &labels).unwrap();
                let tag = tag_for(&key);
                assert!(Tag::new(&tag).is_some(), "{tag:?}");
                assert!(tag.bytes().all(|b| b.is_ascii_graphic()), "{tag:?}");
                assert_eq!(key_for_tag(&tag), Some(key), "{tag:?}");
                assert!(seen.insert(tag.clone()), "{tag:?} twice");
            }
        }
        assert_eq!(
            tag_for(&SeriesKey::new("x", &[("v", "a,b c%;é")]).unwrap()),
            "x{v=a%2Cb%20c%25%3B%C3%A9}"
        );
    }

    #[test]
    fn only_canonical_tags_map_back() {
        for tag in [
            "",
            "x{}",
            "x{a=1",
            "x{a}",
            "x{a=%zz}",
            "x{a=%4}",
            "x{a=%41}",   // `A` need not be escaped
            "x{a=%2c}",   // lower-case hex
            "x{b=1;a=2}", // labels out of order
            "x{a=1;a=2}",
            "x{a=%FF}", // not UTF-8
            "x{a=1}{",
            "x y",
            "1x",
            "x{__a=1}",
        ] {
            assert_eq!(key_for_tag(tag), None, "{tag:?}");
        }
        let key = key_for_tag("x:y{a=%2C;b=}").unwrap();
        assert_eq!(
            key,
            SeriesKey::new("x:y", &[("a", ","), ("b", "")]).unwrap()
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn tags_invert_to_their_keys(
            name in "[a-zA-Z_:][a-zA-Z0-9_:]{0,8}",
            labels in proptest::collection::btree_map("[a-z][a-z0-9_]{0,4}", any::<String>(), 0..4),
        ) {
            let pairs: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let key = SeriesKey::new(&name, &pairs).unwrap();
            let tag = tag_for(&key);
            prop_assert!(Tag::new(&tag).is_some());
            prop_assert!(tag.bytes().all(|b| b.is_ascii_graphic()));
            prop_assert_eq!(key_for_tag(&tag), Some(key));
        }
    }

    /// Each interval line: (tag, start, length, histogram, max column).
    type Line = (Option<String>, Duration, Duration, Histogram<u64>, f64);

    fn intervals(text: &[u8]) -> Vec<Line> {
        IntervalLogIterator::new(text)
            .filter_map(|e| match e.expect("a log the iterator parses") {
                LogEntry::Interval(l) => Some((
                    l.tag().map(|t| t.as_str().to_string()),
                    l.start_timestamp(),
                    l.duration(),
                    decode_interval(&l).unwrap(),
                    l.max(),
                )),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn tags_round_trip_through_the_log_iterator() {
        let registry = Registry::new();
        for &value in ODD_VALUES {
            let h = registry.histogram("odd_seconds", &[("v", value)]).unwrap();
            h.record(1_000 + value.len() as u64);
        }
        registry
            .counter("not_a_histogram_total", &[])
            .unwrap()
            .increment(1);
        let mut reader = registry.interval_reader();
        let mut log = IntervalLog::new(Vec::new()).unwrap();
        let snapshot = registry.snapshot();
        registry.histogram("x_seconds", &[]).unwrap(); // after the take: not in it
        let start = log.base_time() + Duration::from_millis(1_500);
        let written = log
            .write_interval(&snapshot, start, Duration::from_millis(250))
            .unwrap();
        assert_eq!(written, ODD_VALUES.len());
        drop(reader.take());
        let text = log.into_inner();
        let lines = intervals(&text);
        let histograms: Vec<_> = snapshot
            .iter()
            .filter(|s| s.as_histogram().is_some())
            .collect();
        assert_eq!(lines.len(), histograms.len());
        for (line, series) in lines.iter().zip(histograms) {
            let key = key_for_tag(line.0.as_deref().unwrap()).unwrap();
            assert_eq!(key, *series.key);
            assert_eq!(line.1, Duration::from_millis(1_500));
            assert_eq!(line.2, Duration::from_millis(250));
            assert_eq!(line.3, series.as_histogram().unwrap().to_hdr());
        }
    }

    #[test]
    fn headers_and_max_column() {
        let registry = Registry::new();
        let ns = registry.histogram("t_seconds", &[]).unwrap();
        let bytes_opts = HistogramOpts::new(1, 1 << 30, 3)
            .unwrap()
            .scale(1.0)
            .unwrap();
        let bytes = registry.histogram_with("b_bytes", &[], bytes_opts).unwrap();
        let us_opts = HistogramOpts::default().scale(1e6).unwrap();
        let us = registry.histogram_with("u_seconds", &[], us_opts).unwrap();
        ns.record(12_345_678);
        bytes.record(4_567);
        us.record(12_345);
        let snapshot = registry.snapshot();
        let max = |name| recorded(&registry, name, &[]).max() as f64;
        let start = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let base = start + Duration::from_secs(10);

        let mut log = IntervalLogBuilder::new()
            .comment("two\nlines")
            .start_time(start)
            .base_time(base)
            .begin(Vec::new())
            .unwrap();
        log.write_interval(&snapshot, start, Duration::from_secs(1))
            .unwrap(); // before BaseTime: at 0
        log.write_interval(
            &snapshot,
            base + Duration::from_secs(3),
            Duration::from_secs(1),
        )
        .unwrap();
        let text = log.into_inner();
        let s = std::str::from_utf8(&text).unwrap();
        assert!(s.starts_with("#two\n#lines\n#[Histogram log format version 1.3]\n"));
        assert!(s.contains(
            "#[StartTime: 1700000000.123 (seconds since epoch), 2023-11-14T22:13:20Z]\n"
        ));
        assert!(s.contains("#[BaseTime: 1700000010.123 (seconds since epoch)]\n"));
        let entries: Vec<LogEntry> = IntervalLogIterator::new(&text)
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            entries[0],
            LogEntry::StartTime(start.duration_since(UNIX_EPOCH).unwrap())
        );
        assert_eq!(
            entries[1],
            LogEntry::BaseTime(base.duration_since(UNIX_EPOCH).unwrap())
        );
        let lines = intervals(&text);
        let starts: Vec<u64> = lines.iter().map(|l| l.1.as_secs()).collect();
        assert_eq!(starts, [0, 0, 0, 3, 3, 3]);
        // Sorted: b_bytes, t_seconds, u_seconds.
        let round3 = |x: f64| (x * 1e3).round() / 1e3;
        assert_eq!(lines[0].4, round3(max("b_bytes")));
        assert_eq!(lines[1].4, round3(max("t_seconds") / 1e6));
        assert_eq!(lines[2].4, round3(max("u_seconds") / 1e3));

        let mut log = IntervalLogBuilder::new()
            .max_value_divisor(1e9)
            .begin(Vec::new())
            .unwrap();
        log.write_interval(&snapshot, start, Duration::from_secs(1))
            .unwrap();
        let text = log.into_inner();
        assert!(std::str::from_utf8(&text)
            .unwrap()
            .contains("#[MaxValueDivisor: 1000000000.000]\n"));
        let lines = intervals(&text);
        assert_eq!(lines[1].4, round3(max("t_seconds") / 1e9));
        assert_eq!(lines[0].4, round3(max("b_bytes") / 1e9));
    }

    #[test]
    fn the_logger_writes_intervals_not_totals() {
        let registry = Registry::new();
        let h = registry.histogram("q_seconds", &[("k", "v")]).unwrap();
        let c = registry.counter("q_total", &[]).unwrap();
        h.record_n(1_000, 7); // before the logger: in no interval
        let mut logger = IntervalLogger::new(&registry, IntervalLog::new(Vec::new()).unwrap());
        let mut expected = Vec::new();
        for i in 1..=4_u64 {
            h.record_n(1_000 * i, i);
            c.increment(1);
            expected.push(i);
            assert_eq!(logger.log_interval().unwrap(), 1);
        }
        assert!(!logger.log().get_ref().is_empty());
        let text = logger.into_log().into_inner();
        let lines = intervals(&text);
        let counts: Vec<u64> = lines.iter().map(|l| l.3.len()).collect();
        assert_eq!(counts, expected);
        // Abutting: each starts where the previous ended (to the printed ms).
        for pair in lines.windows(2) {
            let end = pair[0].1 + pair[0].2;
            assert!(
                end.abs_diff(pair[1].1) <= Duration::from_millis(2),
                "{pair:?}"
            );
        }
    }
}
