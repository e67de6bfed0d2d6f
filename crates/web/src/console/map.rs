//! The region map: the cities placed by their coordinates, drawn as SVG on the server.

use crate::i18n::Lang;
use maud::{Markup, html};
use yrd_kernel::{Jurisdiction, JurisdictionLevel, jurisdictions};

const WIDTH: f64 = 520.0;
const PAD: f64 = 30.0;
/// Room on the right for the eastern cities' names.
const LABEL_ROOM: f64 = 50.0;

/// Province marker shapes, so that the map does not rely on colour alone. With a
/// `shade` (0–1), the marker is filled on a red–amber–green scale instead of the
/// province colour.
fn marker(province: u32, x: f64, y: f64, r: f64) -> Markup {
    shaded_marker(province, x, y, r, None)
}

/// The fill for a share from 0 (red) through amber to 1 (green).
pub fn share_colour(share: f64) -> String {
    let hue = (share.clamp(0.0, 1.0) * 120.0).round();
    format!("hsl({hue}, 65%, 42%)")
}

fn shaded_marker(province: u32, x: f64, y: f64, r: f64, shade: Option<f64>) -> Markup {
    let class = format!("prov prov-{province}");
    let style = shade.map(|s| format!("fill: {}", share_colour(s)));
    match province {
        310000 => {
            let points = format!(
                "{x},{} {},{y} {x},{} {},{y}",
                y - r * 1.4,
                x + r * 1.4,
                y + r * 1.4,
                x - r * 1.4
            );
            html! { polygon class=(class) style=[style.clone()] points=(points) {} }
        }
        320000 => {
            html! { rect class=(class) style=[style.clone()] x=(x - r) y=(y - r) width=(2.0 * r) height=(2.0 * r) {} }
        }
        330000 => {
            let points = format!(
                "{x},{} {},{} {},{}",
                y - r * 1.3,
                x + r * 1.2,
                y + r,
                x - r * 1.2,
                y + r
            );
            html! { polygon class=(class) style=[style.clone()] points=(points) {} }
        }
        _ => html! { circle class=(class) style=[style.clone()] cx=(x) cy=(y) r=(r) {} },
    }
}

struct Projection {
    lon_min: f64,
    lat_max: f64,
    scale: f64,
    cos_lat: f64,
}

impl Projection {
    /// Equirectangular around the region's middle latitude: faithful enough at this size.
    fn fit(points: &[&Jurisdiction]) -> (Projection, f64) {
        let lons = points.iter().filter_map(|j| j.lon);
        let lats = points.iter().filter_map(|j| j.lat);
        let (lon_min, lon_max) = lons.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
        let (lat_min, lat_max) = lats.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
        let cos_lat = ((lat_min + lat_max) / 2.0).to_radians().cos();
        let scale = (WIDTH - 2.0 * PAD - LABEL_ROOM) / ((lon_max - lon_min) * cos_lat);
        let height = (lat_max - lat_min) * scale + 2.0 * PAD;
        (
            Projection {
                lon_min,
                lat_max,
                scale,
                cos_lat,
            },
            height,
        )
    }

    fn project(&self, lon: f64, lat: f64) -> (f64, f64) {
        let x = PAD + (lon - self.lon_min) * self.cos_lat * self.scale;
        let y = PAD + (self.lat_max - lat) * self.scale;
        ((x * 10.0).round() / 10.0, (y * 10.0).round() / 10.0)
    }
}

/// The map of the 41 cities (and the demonstration-zone districts), coloured and
/// shaped by province, each with its name on hover and a link to `link(code)`.
pub fn region_map(lang: Lang, link: impl Fn(&Jurisdiction) -> Option<String>) -> Markup {
    shaded_region_map(lang, link, |_| None)
}

/// The region map with each city shaded by `shade(city)`: `(share 0–1, label)`, the
/// label written beside the city name so that colour is not the only carrier.
pub fn shaded_region_map(
    lang: Lang,
    link: impl Fn(&Jurisdiction) -> Option<String>,
    shade: impl Fn(&Jurisdiction) -> Option<(f64, String)>,
) -> Markup {
    let table = jurisdictions();
    let cities: Vec<&Jurisdiction> = table
        .all()
        .filter(|j| j.level == JurisdictionLevel::City && j.lon.is_some())
        .collect();
    let districts: Vec<&Jurisdiction> = table
        .all()
        .filter(|j| j.level != JurisdictionLevel::City && j.lon.is_some())
        .collect();
    let (projection, height) = Projection::fit(&cities);
    let name = |j: &Jurisdiction| lang.pick(&j.name_zh, &j.name_en).to_string();
    let title = lang.pick("长三角地区 41 个城市", "The 41 cities of the Yangtze River Delta");
    html! {
        figure.map {
            svg viewBox=(format!("0 0 {WIDTH} {}", height.ceil())) role="img" aria-labelledby="map-title" xmlns="http://www.w3.org/2000/svg" {
                title id="map-title" { (title) }
                @for city in &cities {
                    @let (x, y) = projection.project(city.lon.unwrap_or_default(), city.lat.unwrap_or_default());
                    @let province = city.code.province();
                    @let shading = shade(city);
                    @let extra = shading.as_ref().map(|(_, label)| format!(" · {label}")).unwrap_or_default();
                    @let label = format!("{} · {} · {}{extra}", name(city), name(province.jurisdiction()), city.code);
                    @let mark = shaded_marker(province.as_u32(), x, y, 6.0, shading.as_ref().map(|(share, _)| *share));
                    g.city data-code=(city.code) {
                        title { (label) }
                        @if let Some(href) = link(city) {
                            a href=(href) { (mark) }
                        } @else {
                            (mark)
                        }
                        text x=(x + 8.0) y=(y + 4.0) { (name(city)) @if let Some((_, short)) = &shading { " " (short) } }
                    }
                }
                @for district in &districts {
                    @let (x, y) = projection.project(district.lon.unwrap_or_default(), district.lat.unwrap_or_default());
                    g.district data-code=(district.code) {
                        title { (name(district)) " · " (district.code) " · " (district.tags.join(", ")) }
                        circle.zone cx=(x) cy=(y) r="2.5" {}
                    }
                }
            }
            figcaption.legend {
                @for province in table.provinces() {
                    span.legend-item {
                        svg.legend-mark viewBox="0 0 20 20" aria-hidden="true" { (marker(province.code.as_u32(), 10.0, 10.0, 6.0)) }
                        (name(province))
                    }
                }
                span.legend-item {
                    svg.legend-mark viewBox="0 0 20 20" aria-hidden="true" { circle.zone cx="10" cy="10" r="3" {} }
                    (lang.pick("示范区及 G60 区县", "Demonstration zone and G60 districts"))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_city_is_drawn_once_inside_the_frame() {
        let svg = region_map(Lang::En, |_| None).into_string();
        assert_eq!(svg.matches("class=\"city\"").count(), 41);
        assert!(svg.contains("Suzhou · Jiangsu · 320500"));
        assert!(svg.contains("Suzhou · Anhui · 341300"));
        let zh = region_map(Lang::Zh, |_| None).into_string();
        assert!(zh.contains("苏州市 · 江苏省"));
    }
}
