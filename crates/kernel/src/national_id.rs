//! The 18-character resident identity number (GB 11643): six digits of the place of
//! registration, the birth date, a sequence whose last digit is odd for men, and a
//! check character over the first seventeen (ISO 7064 MOD 11-2).

use chrono::NaiveDate;

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK: &[u8; 11] = b"10X98765432";

/// The normal form in which IDs are compared and hashed: trimmed, `x` as `X`.
pub fn normalise(text: &str) -> String {
    text.trim().to_uppercase()
}

fn check_character(first17: &[u8]) -> char {
    let sum: u32 = first17.iter().zip(WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
    CHECK[(sum % 11) as usize] as char
}

/// Seventeen digits and the right check character.
pub fn is_valid(text: &str) -> bool {
    let t = normalise(text);
    let b = t.as_bytes();
    b.len() == 18 && b[..17].iter().all(u8::is_ascii_digit) && b[17] as char == check_character(&b[..17])
}

/// A valid ID from seventeen digits, for tests and demonstration data.
pub fn with_check_digit(first17: &str) -> String {
    format!("{first17}{}", check_character(first17.as_bytes()))
}

/// The birth date written in a valid ID.
pub fn birth_date(text: &str) -> Option<NaiveDate> {
    let t = normalise(text);
    if !is_valid(&t) {
        return None;
    }
    NaiveDate::parse_from_str(&t[6..14], "%Y%m%d").ok()
}

/// `male` or `female`, as the ID's sequence digit says.
pub fn sex(text: &str) -> Option<&'static str> {
    let t = normalise(text);
    if !is_valid(&t) {
        return None;
    }
    Some(if (t.as_bytes()[16] - b'0') % 2 == 1 {
        "male"
    } else {
        "female"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_character_birth_date_and_sex() {
        let id = with_check_digit("34010219800101001");
        assert!(is_valid(&id));
        assert!(is_valid(&id.to_lowercase()));
        let mut wrong = id.clone();
        wrong.replace_range(17..18, if id.ends_with('0') { "1" } else { "0" });
        assert!(!is_valid(&wrong));
        assert!(!is_valid("3401021980010100"));
        assert_eq!(birth_date(&id), NaiveDate::from_ymd_opt(1980, 1, 1));
        assert_eq!(sex(&id), Some("male"));
        assert_eq!(sex(&with_check_digit("34010219800101002")), Some("female"));
        // A check character that fits but a date that does not exist.
        assert_eq!(birth_date(&with_check_digit("34010219801301001")), None);
    }
}
