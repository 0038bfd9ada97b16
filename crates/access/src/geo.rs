//! Distances on the Earth and a local plane for nearest-neighbour search.

/// The mean Earth radius (IUGG), in metres.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// The great-circle distance between two WGS-84 positions, in metres (haversine).
pub fn haversine_m(a: [f64; 2], b: [f64; 2]) -> f64 {
    let (lon1, lat1) = (a[0].to_radians(), a[1].to_radians());
    let (lon2, lat2) = (b[0].to_radians(), b[1].to_radians());
    let h = ((lat2 - lat1) / 2.0).sin().powi(2)
        + lat1.cos() * lat2.cos() * ((lon2 - lon1) / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

/// An equirectangular plane around one latitude, in metres: over a city, straight lines and
/// nearest points in it are those on the ground to well under a metre, which is all the
/// snapping needs (lengths along the network are haversine).
#[derive(Debug, Clone, Copy)]
pub struct Plane {
    x_per_degree: f64,
    y_per_degree: f64,
}

impl Plane {
    pub fn around(latitude: f64) -> Plane {
        let y_per_degree = EARTH_RADIUS_M * std::f64::consts::PI / 180.0;
        Plane {
            x_per_degree: y_per_degree * latitude.to_radians().cos(),
            y_per_degree,
        }
    }

    pub fn project(&self, p: [f64; 2]) -> [f64; 2] {
        [p[0] * self.x_per_degree, p[1] * self.y_per_degree]
    }
}

/// Whether a position is a real WGS-84 longitude and latitude.
pub fn valid_position(lon: f64, lat: f64) -> bool {
    lon.is_finite()
        && lat.is_finite()
        && (-180.0..=180.0).contains(&lon)
        && (-90.0..=90.0).contains(&lat)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn haversine_matches_a_known_distance() {
        // One degree of latitude on the mean sphere.
        let d = haversine_m([120.0, 30.0], [120.0, 31.0]);
        assert!((d - 111_195.08).abs() < 0.1, "{d}");
        assert_eq!(haversine_m([120.1, 30.2], [120.1, 30.2]), 0.0);
    }

    #[test]
    fn the_plane_keeps_short_distances() {
        let plane = Plane::around(30.25);
        let (a, b) = ([120.15, 30.25], [120.16, 30.255]);
        let (pa, pb) = (plane.project(a), plane.project(b));
        let flat = ((pa[0] - pb[0]).powi(2) + (pa[1] - pb[1]).powi(2)).sqrt();
        assert!((flat - haversine_m(a, b)).abs() < 0.5, "{flat}");
    }
}
