//! The console's two languages: message catalogues, and numbers and dates written
//! the way each language writes them.

use chrono::{Datelike, NaiveDate};
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    /// The `lang` attribute of the page.
    pub fn html_lang(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    pub fn parse(code: &str) -> Option<Lang> {
        match code {
            "zh" | "zh-CN" | "zh-cn" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The language from the cookie, else from `Accept-Language`, else Chinese.
    pub fn from_request(cookie: Option<&str>, accept_language: Option<&str>) -> Lang {
        if let Some(lang) = cookie.and_then(Lang::parse) {
            return lang;
        }
        match accept_language.map(|v| v.trim_start().to_ascii_lowercase()) {
            Some(v) if v.starts_with("en") => Lang::En,
            _ => Lang::Zh,
        }
    }

    pub fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }

    pub fn pick<'a>(self, zh: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }

    /// `2026年11月28日` / `28 Nov 2026`.
    pub fn date(self, date: NaiveDate) -> String {
        match self {
            Lang::Zh => format!("{}年{}月{}日", date.year(), date.month(), date.day()),
            Lang::En => date.format("%-d %b %Y").to_string(),
        }
    }

    /// Counts: `1.2万` / `12,000`, `3.4亿` / `340,000,000`.
    pub fn count(self, n: i64) -> String {
        match self {
            Lang::Zh if n.abs() >= 100_000_000 => format!("{}亿", trim_decimal(n as f64 / 1e8)),
            Lang::Zh if n.abs() >= 10_000 => format!("{}万", trim_decimal(n as f64 / 1e4)),
            Lang::Zh => n.to_string(),
            Lang::En => group_thousands(n),
        }
    }
}

fn trim_decimal(value: f64) -> String {
    let text = format!("{value:.1}");
    text.strip_suffix(".0").map(str::to_string).unwrap_or(text)
}

fn group_thousands(n: i64) -> String {
    let grouped = yrd_kernel::text::group_thousands(n.unsigned_abs());
    if n < 0 { format!("-{grouped}") } else { grouped }
}

/// A catalogue pair: `key = text` lines per language, `#` comments.
#[derive(Debug, Clone, Copy, Default)]
pub struct Catalogue {
    pub zh: &'static str,
    pub en: &'static str,
}

/// Every message of the platform and its modules.
#[derive(Debug, Default)]
pub struct Messages {
    zh: HashMap<&'static str, &'static str>,
    en: HashMap<&'static str, &'static str>,
}

fn parse_catalogue(text: &'static str) -> impl Iterator<Item = (&'static str, &'static str)> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.trim(), value.trim()))
}

impl Messages {
    pub fn new(catalogues: impl IntoIterator<Item = Catalogue>) -> Messages {
        let mut messages = Messages::default();
        for catalogue in catalogues {
            messages.zh.extend(parse_catalogue(catalogue.zh));
            messages.en.extend(parse_catalogue(catalogue.en));
        }
        messages
    }

    /// The text for `key`; a missing key shows as itself (and a test keeps them in step).
    pub fn get<'a>(&'a self, lang: Lang, key: &'a str) -> &'a str {
        let table = match lang {
            Lang::Zh => &self.zh,
            Lang::En => &self.en,
        };
        table.get(key).copied().unwrap_or(key)
    }

    /// Keys present in one language and not the other.
    pub fn unmatched_keys(&self) -> Vec<&'static str> {
        let mut out: Vec<_> = self.zh.keys().filter(|k| !self.en.contains_key(*k)).copied().collect();
        out.extend(self.en.keys().filter(|k| !self.zh.contains_key(*k)).copied());
        out.sort_unstable();
        out
    }
}

pub fn platform_catalogue() -> Catalogue {
    Catalogue {
        zh: include_str!("../i18n/zh-CN.txt"),
        en: include_str!("../i18n/en.txt"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_languages_have_every_key() {
        let messages = Messages::new([platform_catalogue()]);
        assert_eq!(messages.unmatched_keys(), Vec::<&str>::new());
        assert_eq!(messages.get(Lang::Zh, "nav.home"), "首页");
        assert_eq!(messages.get(Lang::En, "nav.home"), "Home");
        assert_eq!(messages.get(Lang::En, "no.such.key"), "no.such.key");
    }

    #[test]
    fn numbers_and_dates_follow_the_language() {
        let date = NaiveDate::from_ymd_opt(2026, 11, 28).unwrap();
        assert_eq!(Lang::Zh.date(date), "2026年11月28日");
        assert_eq!(Lang::En.date(date), "28 Nov 2026");
        assert_eq!(Lang::Zh.count(12_000), "1.2万");
        assert_eq!(Lang::Zh.count(340_000_000), "3.4亿");
        assert_eq!(Lang::Zh.count(950), "950");
        assert_eq!(Lang::En.count(12_000), "12,000");
        assert_eq!(Lang::En.count(-1_234_567), "-1,234,567");
    }

    #[test]
    fn language_comes_from_cookie_then_header() {
        assert_eq!(Lang::from_request(Some("en"), Some("zh-CN")), Lang::En);
        assert_eq!(Lang::from_request(None, Some("en-GB,en;q=0.9")), Lang::En);
        assert_eq!(Lang::from_request(None, None), Lang::Zh);
        assert_eq!(Lang::from_request(Some("fr"), None), Lang::Zh);
    }
}
