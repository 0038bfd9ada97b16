//! Which OpenStreetMap ways a person may walk on.

/// Highway values walkable unless access tags forbid it.
const WALKABLE: &[&str] = &[
    "footway",
    "path",
    "pedestrian",
    "steps",
    "living_street",
    "residential",
    "service",
    "unclassified",
    "track",
    "tertiary",
    "tertiary_link",
    "secondary",
    "secondary_link",
    "primary",
    "primary_link",
];

/// Highway values walkable only where `foot` says so explicitly.
const FOOT_ONLY_IF_SIGNED: &[&str] = &["motorway", "motorway_link", "trunk", "trunk_link"];

/// `foot` values that allow walking whatever `access` says.
const FOOT_ALLOWED: &[&str] = &["yes", "designated", "permissive"];

/// Whether a way with these tags is walkable: its `highway` class is walkable, and neither
/// `foot=no` nor `access=no|private` forbids it. An explicit `foot=yes|designated|permissive`
/// overrides `access` (a private estate road open to pedestrians) and admits motorways and
/// trunk roads, which are otherwise excluded.
pub fn walkable<'a>(tags: impl IntoIterator<Item = (&'a str, &'a str)>) -> bool {
    let (mut highway, mut foot, mut access) = (None, None, None);
    for (k, v) in tags {
        match k {
            "highway" => highway = Some(v),
            "foot" => foot = Some(v),
            "access" => access = Some(v),
            _ => {}
        }
    }
    let Some(highway) = highway else {
        return false;
    };
    let foot_signed = foot.is_some_and(|f| FOOT_ALLOWED.contains(&f));
    if foot == Some("no") {
        return false;
    }
    if FOOT_ONLY_IF_SIGNED.contains(&highway) {
        return foot_signed;
    }
    if !WALKABLE.contains(&highway) {
        return false;
    }
    foot_signed || !matches!(access, Some("no" | "private"))
}

#[cfg(test)]
mod tests {
    use super::walkable;

    fn w(tags: &[(&'static str, &'static str)]) -> bool {
        walkable(tags.iter().copied())
    }

    #[test]
    fn the_issue_rules() {
        assert!(w(&[("highway", "footway")]));
        assert!(w(&[("highway", "secondary_link")]));
        assert!(!w(&[("highway", "motorway")]));
        assert!(w(&[("highway", "trunk"), ("foot", "yes")]));
        assert!(!w(&[("highway", "residential"), ("access", "private")]));
        assert!(!w(&[("highway", "service"), ("access", "no")]));
        assert!(w(&[
            ("highway", "service"),
            ("access", "private"),
            ("foot", "designated")
        ]));
        assert!(!w(&[("highway", "path"), ("foot", "no")]));
        assert!(!w(&[("highway", "construction")]));
        assert!(!w(&[("building", "yes")]));
        assert!(!w(&[]));
    }
}
