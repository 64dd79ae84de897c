//! Human units of the topology file -> the model's fixed units.
//!
//! bandwidth: `<number><unit>` with unit `bit`, `kbit`, `mbit`, `gbit`, `tbit`
//! (bits per second, decimal multiples, case-insensitive) -> kbit/s; a bare
//! number is refused (ambiguous). Duration: `<number><unit>` with unit `ns`,
//! `us` (or `µs`), `ms`, `s`; a bare `0` is accepted -> microseconds.
//! Percent: a number or `<number>%`, 0..=100. Fractions are allowed
//! (`2.5gbit`, `1.5ms`) and rounded to the nearest model unit.

/// Parse a bandwidth into kbit/s.
pub fn parse_bandwidth_kbps(text: &str) -> Result<u64, String> {
    let (number, unit) = split_unit(text)?;
    let bits_per_unit = match unit.to_ascii_lowercase().as_str() {
        "bit" => 1.0,
        "kbit" => 1e3,
        "mbit" => 1e6,
        "gbit" => 1e9,
        "tbit" => 1e12,
        "" => {
            return Err(format!(
                "bandwidth {text:?} needs a unit: bit, kbit, mbit, gbit or tbit (e.g. 100mbit)"
            ))
        }
        other => {
            return Err(format!(
                "unknown bandwidth unit {other:?} in {text:?}: use bit, kbit, mbit, gbit or tbit"
            ))
        }
    };
    let kbps = (number * bits_per_unit / 1e3).round();
    if kbps < 1.0 {
        return Err(format!("bandwidth {text:?} is below 1kbit"));
    }
    if kbps > u64::MAX as f64 / 2.0 {
        return Err(format!("bandwidth {text:?} is too large"));
    }
    Ok(kbps as u64)
}

/// Parse a duration into microseconds.
pub fn parse_duration_us(text: &str) -> Result<u64, String> {
    let (number, unit) = split_unit(text)?;
    let us_per_unit = match unit.to_ascii_lowercase().as_str() {
        "ns" => 1e-3,
        "us" | "µs" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "" if number == 0.0 => 1.0,
        "" => {
            return Err(format!(
                "duration {text:?} needs a unit: ns, us, ms or s (e.g. 4ms)"
            ))
        }
        other => {
            return Err(format!(
                "unknown duration unit {other:?} in {text:?}: use ns, us, ms or s"
            ))
        }
    };
    let us = (number * us_per_unit).round();
    if us > 3.6e9 {
        return Err(format!("duration {text:?} is longer than an hour"));
    }
    Ok(us as u64)
}

/// Parse a percentage 0..=100.
pub fn parse_percent(text: &str) -> Result<f64, String> {
    let (number, unit) = split_unit(text)?;
    if !unit.is_empty() && unit != "%" {
        return Err(format!(
            "{text:?} is not a percentage: write a number 0..100, optionally followed by %"
        ));
    }
    if !(0.0..=100.0).contains(&number) {
        return Err(format!("{text:?} is outside 0..100 %"));
    }
    Ok(number)
}

/// Split `"2.5gbit"` into `(2.5, "gbit")`; refuses negative and non-finite numbers.
fn split_unit(text: &str) -> Result<(f64, &str), String> {
    let text = text.trim();
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+' || c == 'e'))
        .unwrap_or(text.len());
    // `e` belongs to an exponent only if digits surround it; otherwise it starts a unit.
    let (mut number_part, mut unit) = text.split_at(end);
    if let Some(pos) = number_part.find('e') {
        if !number_part[pos + 1..].starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+')
        {
            unit = &text[pos..];
            number_part = &text[..pos];
        }
    }
    let number: f64 = number_part
        .parse()
        .map_err(|_| format!("{text:?} is not a number with a unit"))?;
    if !number.is_finite() {
        return Err(format!("{text:?} is not a finite number"));
    }
    if number < 0.0 {
        return Err(format!("{text:?} is negative"));
    }
    Ok((number, unit.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bandwidths() {
        assert_eq!(parse_bandwidth_kbps("1gbit"), Ok(1_000_000));
        assert_eq!(parse_bandwidth_kbps("100mbit"), Ok(100_000));
        assert_eq!(parse_bandwidth_kbps("500kbit"), Ok(500));
        assert_eq!(parse_bandwidth_kbps("2.5Gbit"), Ok(2_500_000));
        assert_eq!(parse_bandwidth_kbps("1500bit"), Ok(2));
        assert!(parse_bandwidth_kbps("100")
            .unwrap_err()
            .contains("needs a unit"));
        assert!(parse_bandwidth_kbps("100mbps")
            .unwrap_err()
            .contains("unknown"));
        assert!(parse_bandwidth_kbps("-1gbit")
            .unwrap_err()
            .contains("negative"));
        assert!(parse_bandwidth_kbps("100bit")
            .unwrap_err()
            .contains("below"));
        assert!(parse_bandwidth_kbps("fast").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_us("4ms"), Ok(4_000));
        assert_eq!(parse_duration_us("250us"), Ok(250));
        assert_eq!(parse_duration_us("250µs"), Ok(250));
        assert_eq!(parse_duration_us("1.5ms"), Ok(1_500));
        assert_eq!(parse_duration_us("1s"), Ok(1_000_000));
        assert_eq!(parse_duration_us("0"), Ok(0));
        assert_eq!(parse_duration_us("1e3us"), Ok(1_000));
        assert!(parse_duration_us("4").unwrap_err().contains("needs a unit"));
        assert!(parse_duration_us("4h").unwrap_err().contains("unknown"));
    }

    #[test]
    fn percents() {
        assert_eq!(parse_percent("0.1"), Ok(0.1));
        assert_eq!(parse_percent("3%"), Ok(3.0));
        assert_eq!(parse_percent("100"), Ok(100.0));
        assert!(parse_percent("100.5").unwrap_err().contains("outside"));
        assert!(parse_percent("5ms").is_err());
        assert!(parse_percent("-1").is_err());
    }
}

/// kbit/s in the file's notation: `1gbit`, `100mbit`, `1500kbit`.
pub fn format_bandwidth_kbps(kbps: u64) -> String {
    match kbps {
        k if k >= 1_000_000_000 && k % 1_000_000_000 == 0 => format!("{}tbit", k / 1_000_000_000),
        k if k >= 1_000_000 && k % 1_000_000 == 0 => format!("{}gbit", k / 1_000_000),
        k if k >= 1_000 && k % 1_000 == 0 => format!("{}mbit", k / 1_000),
        k => format!("{k}kbit"),
    }
}

/// Microseconds in the file's notation: `4ms`, `250us`, `1s`, `0`.
pub fn format_duration_us(us: u64) -> String {
    match us {
        0 => "0".to_owned(),
        u if u % 1_000_000 == 0 => format!("{}s", u / 1_000_000),
        u if u % 1_000 == 0 => format!("{}ms", u / 1_000),
        u => format!("{u}us"),
    }
}

#[cfg(test)]
mod format_tests {
    use super::*;

    #[test]
    fn formats_round_trip() {
        for text in ["1gbit", "100mbit", "1500kbit", "2tbit"] {
            assert_eq!(
                format_bandwidth_kbps(parse_bandwidth_kbps(text).unwrap()),
                text
            );
        }
        for text in ["4ms", "250us", "1s", "0", "1500us"] {
            assert_eq!(format_duration_us(parse_duration_us(text).unwrap()), text);
        }
    }
}

/// Parse a size in bytes: a bare number, or a number with `B`, `kB` (or
/// `KB`), `MB`, `GB` (decimal) or `KiB`, `MiB`, `GiB` (binary). Units are
/// case-sensitive (`mb` is refused rather than guessed). Used for traffic
/// amounts in scenario files.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let (number, unit) = split_unit(text)?;
    let per_unit = match unit {
        "" | "B" => 1.0,
        "kB" | "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!(
                "unknown size unit {other:?} in {text:?}: use B, kB, MB, GB, KiB, MiB or GiB"
            ))
        }
    };
    let bytes = (number * per_unit).round();
    if bytes > 1e15 {
        return Err(format!("size {text:?} is too large"));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod byte_tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("1500"), Ok(1500));
        assert_eq!(parse_bytes("10MB"), Ok(10_000_000));
        assert_eq!(parse_bytes("1MiB"), Ok(1_048_576));
        assert_eq!(parse_bytes("64KiB"), Ok(65_536));
        assert_eq!(parse_bytes("2.5kB"), Ok(2_500));
        assert!(parse_bytes("10mb")
            .unwrap_err()
            .contains("unknown size unit"));
        assert!(parse_bytes("-1").unwrap_err().contains("negative"));
        assert!(parse_bytes("9e20").unwrap_err().contains("too large"));
    }
}
