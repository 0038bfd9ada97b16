//! Handling units. An event is always in exactly one unit's inbox: a grid, a community, a
//! street (its 矛调中心, the conflict-mediation centre) or a named district department.
//! Escalation walks up that chain one step at a time: grid → community → street →
//! department.

use crate::events::category::HandlingLevel;
use crate::region::{Level, RegionCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unit {
    /// A grid, community or street, handled by the staff whose area is exactly that region.
    Region(RegionCode),
    /// A district department (职能部门), by its id in the store.
    Department(i64),
}

impl Unit {
    /// The unit that first takes an event of a category handled at `level`, located in
    /// `region`. An event located no finer than a community, of a category handled by
    /// grids, goes to that community: there is no grid to give it to.
    pub fn first(level: HandlingLevel, department: Option<i64>, region: RegionCode) -> Unit {
        let target = match level {
            HandlingLevel::Grid => Level::Grid,
            HandlingLevel::Community => Level::Community,
            HandlingLevel::Street => Level::Street,
            HandlingLevel::Department => match department {
                Some(d) => return Unit::Department(d),
                None => Level::Street,
            },
        };
        Unit::Region(ancestor_at(region, target))
    }

    /// The next unit up, or `None` at the top. Escalating from a street needs the
    /// category's department (from the responsibility list) or one named by the handler.
    pub fn next_up(self, department: Option<i64>) -> Option<Unit> {
        match self {
            Unit::Region(code) => match code.level() {
                Level::Street => department.map(Unit::Department),
                Level::Community => code.parent().map(Unit::Region),
                Level::Grid | Level::MicroGrid => {
                    Some(Unit::Region(ancestor_at(code, Level::Community)))
                }
                Level::Province | Level::City | Level::District => None,
            },
            Unit::Department(_) => None,
        }
    }

    /// The level this unit works at, as stored: grid 6, community 5, street 4, department 3.
    pub fn level_number(self) -> i16 {
        match self {
            Unit::Region(c) => c.level().number(),
            Unit::Department(_) => Level::District.number(),
        }
    }

    pub fn region(self) -> Option<RegionCode> {
        match self {
            Unit::Region(c) => Some(c),
            Unit::Department(_) => None,
        }
    }

    pub fn department(self) -> Option<i64> {
        match self {
            Unit::Department(d) => Some(d),
            Unit::Region(_) => None,
        }
    }

    /// The handling level this unit stands for.
    pub fn handling_level(self) -> HandlingLevel {
        match self {
            Unit::Department(_) => HandlingLevel::Department,
            Unit::Region(c) => match c.level() {
                Level::Grid | Level::MicroGrid => HandlingLevel::Grid,
                Level::Community => HandlingLevel::Community,
                _ => HandlingLevel::Street,
            },
        }
    }
}

/// The ancestor of `code` at `level`, or `code` itself when it is at that level or coarser.
pub fn ancestor_at(code: RegionCode, level: Level) -> RegionCode {
    let mut cur = code;
    while cur.level() > level {
        match cur.parent() {
            Some(p) => cur = p,
            None => break,
        }
    }
    cur
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(s: &str) -> RegionCode {
        RegionCode::parse(s).expect("test code")
    }

    #[test]
    fn first_units_follow_the_level_and_never_go_finer_than_the_location() {
        let micro = code("330102001001001002");
        assert_eq!(
            Unit::first(HandlingLevel::Grid, None, micro),
            Unit::Region(code("330102001001001"))
        );
        assert_eq!(
            Unit::first(HandlingLevel::Community, None, micro),
            Unit::Region(code("330102001001"))
        );
        assert_eq!(
            Unit::first(HandlingLevel::Street, None, micro),
            Unit::Region(code("330102001"))
        );
        assert_eq!(
            Unit::first(HandlingLevel::Department, Some(7), micro),
            Unit::Department(7)
        );
        // Located only at a community: a grid category goes to the community.
        assert_eq!(
            Unit::first(HandlingLevel::Grid, None, code("330102001001")),
            Unit::Region(code("330102001001"))
        );
    }

    #[test]
    fn escalation_climbs_one_step_at_a_time() {
        let grid = Unit::Region(code("330102001001001"));
        let community = grid.next_up(None).expect("community");
        assert_eq!(community, Unit::Region(code("330102001001")));
        let street = community.next_up(None).expect("street");
        assert_eq!(street, Unit::Region(code("330102001")));
        assert_eq!(street.next_up(None), None, "a street needs a department");
        assert_eq!(street.next_up(Some(3)), Some(Unit::Department(3)));
        assert_eq!(Unit::Department(3).next_up(Some(4)), None);
    }
}
