//! Filing reports. A report is checked on its own (texts, phone, category), then queued;
//! the queue's task files every report that arrived meanwhile together: one read to locate
//! them all (the boundaries are in memory; the buildings near them are read), then one
//! write of them all (events, flow log, photos, figures, notifications: see `batch_write`)
//! and, at the same time, one read of the open reports near them. Under load that turns a
//! dozen database round trips and one commit per report into two in a row per batch; a
//! lone report is a batch of one and waits for nothing.
//!
//! A report the batch cannot file (outside the district, outside the reporter's area) gets
//! its own error and the others go on. If the batch's write fails, every report in it is
//! filed again alone, so that one bad report fails only itself.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use linli_core::events::deadline::Deadline;
use linli_core::events::flow::{apply, Action, Refusal};
use linli_core::events::{
    State, Unit, DUPLICATE_RADIUS_M, DUPLICATE_WINDOW_MS, MAX_DUPLICATES_SHOWN,
};
use linli_core::geo::{haversine_m, near_cell_of, Position};
use linli_core::region::{Level, RegionCode};
use linli_core::registry::phone::Phone;
use linli_core::{Problem, Role};

use super::catalog::{category_chain, grid_may_close, Category};
use super::read::NearAsk;
use super::write::{check_photos, clean_text, invalid, By, Created, NewEvent, PhotoRef, Source};
use super::{Event, Nearby};
use crate::accounts::User;
use crate::batch::Batcher;
use crate::{now_ms, on_read, Result, Store, StoreError};

/// The most reports one batch files.
const MAX_BATCH: usize = 128;
/// Batches in flight at once: while one waits on a round trip, the next is located or
/// written. On SQLite the writes still take turns on the one write connection. Measured at
/// 8 clients on two cores, 1 files most per second (the batches are largest) and 4 the
/// fewest; 2 is within a few per cent of 1 and keeps a second batch going while one waits.
const BATCH_WORKERS: usize = 2;

/// The queue of reports waiting to be filed, started on first use.
pub(crate) type ReportQueue = Arc<OnceLock<Batcher<Report, Result<Created>>>>;

/// Who files a report, owned so that the report can wait in the queue.
#[derive(Debug, Clone)]
pub(super) enum Reporter {
    User(User),
    ApiKey { id: i64, name: String },
    System,
}

impl Reporter {
    fn of(by: By<'_>) -> Reporter {
        match by {
            By::User(u) => Reporter::User(u.clone()),
            By::ApiKey { id, name } => Reporter::ApiKey {
                id,
                name: name.to_string(),
            },
            By::System => Reporter::System,
        }
    }

    pub(super) fn by(&self) -> By<'_> {
        match self {
            Reporter::User(u) => By::User(u),
            Reporter::ApiKey { id, name } => By::ApiKey { id: *id, name },
            Reporter::System => By::System,
        }
    }
}

/// Where a report says it is, before it is located.
#[derive(Debug, Clone, Copy)]
enum Spot {
    Building(i64),
    Point(Position),
    /// Named by staff (a hotline call).
    Region(RegionCode),
}

/// A report checked on its own, waiting in the queue.
#[derive(Debug)]
pub(crate) struct Report {
    pub(super) reporter: Reporter,
    category: Category,
    source: Source,
    description: String,
    address: Option<String>,
    contact_name: Option<String>,
    /// The phone encrypted, and masked for display.
    pub(super) phone: Option<(Vec<u8>, String)>,
    pub(super) note: Option<String>,
    pub(super) photos: Vec<PhotoRef>,
    close_on_spot: bool,
    pub(super) attributes: Option<serde_json::Value>,
    spot: Spot,
    pub(super) now: i64,
}

/// Where a report was located.
struct Place {
    region: RegionCode,
    position: Option<Position>,
    building_id: Option<i64>,
    address: Option<String>,
}

/// A report located and routed, ready to write.
pub(super) struct Routed<'a> {
    pub(super) report: &'a Report,
    pub(super) event: Event,
    pub(super) cell: Option<i64>,
    /// Closed on the spot as it was filed.
    pub(super) closing: bool,
}

/// A building's region key and level, position, name and address.
type BuildingPlace = (i64, i64, i64, Option<f64>, Option<f64>, String, String);

impl Store {
    /// Files a report: checks it, locates it, routes it by the responsibility list into a
    /// unit's inbox with the category's deadline, and (for a grid worker whose community's
    /// admission list allows it) closes it on the spot. Written in one transaction, shared
    /// with the reports filed at the same moment (see the module documentation).
    pub async fn create_event(&self, by: By<'_>, new: NewEvent) -> Result<Created> {
        self.create_event_at(by, new, now_ms()).await
    }

    /// [`Store::create_event`] received at a given moment: a replay of recorded tickets files
    /// each at the moment it arrived, so that its deadline and figures fall where they did.
    pub async fn create_event_at(&self, by: By<'_>, new: NewEvent, now: i64) -> Result<Created> {
        let report = self.check_report(by, new, now).await?;
        let queue = self.reports.get_or_init(|| {
            let filer = self.without_queues();
            Batcher::spawn(MAX_BATCH, BATCH_WORKERS, move |reports| {
                let filer = filer.clone();
                async move { filer.file_reports(reports).await }
            })
        });
        queue.call(report).await.unwrap_or_else(|| {
            Err(StoreError::Config(
                "the report queue has stopped: linli is shutting down".into(),
            ))
        })
    }

    /// Everything about a report that needs no other report: its texts, phone, photos,
    /// category and the kind of place it names.
    async fn check_report(&self, by: By<'_>, new: NewEvent, now: i64) -> Result<Report> {
        let description =
            clean_text(Some(&new.description), "description", true)?.unwrap_or_default();
        let address = clean_text(new.address.as_deref(), "address", false)?;
        let contact_name = clean_text(new.contact_name.as_deref(), "contact_name", false)?;
        let note = clean_text(new.note.as_deref(), "note", false)?;
        check_photos(&new.photos)?;
        let phone = match new
            .contact_phone
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            None => None,
            Some(p) => {
                let phone = Phone::parse(p)
                    .map_err(|e| StoreError::Invalid(e.problem().field("contact_phone")))?;
                let keys = self.keys()?;
                Some((
                    keys.encrypt_for(linli_pii::FIELD_PHONE, phone.as_str()),
                    phone.masked(),
                ))
            }
        };
        let catalog = self.catalog().await?;
        let category = match catalog.category(new.category.trim()) {
            Some(c) if c.active => c.clone(),
            _ => {
                return Err(StoreError::Invalid(
                    Problem::new("unknown_category", "events.unknown_category")
                        .arg("value", new.category.trim())
                        .field("category"),
                ))
            }
        };
        let source = new.source.unwrap_or(match by {
            By::User(u) if u.role == Role::Resident => Source::Resident,
            By::User(_) => Source::Patrol,
            By::ApiKey { .. } => Source::Open311,
            By::System => Source::Generated,
        });
        let spot = if let Some(b) = new.building_id {
            Spot::Building(b)
        } else if let Some(p) = new.position {
            crate::registry::check_position(Some(p[0]), Some(p[1])).map_err(StoreError::Invalid)?;
            Spot::Point(p)
        } else {
            match (new.region, by) {
                (Some(r), By::User(u)) if u.role != Role::Resident => Spot::Region(r),
                _ => {
                    return Err(invalid(
                        "location_required",
                        "events.location_required",
                        "lon",
                    ))
                }
            }
        };
        Ok(Report {
            reporter: Reporter::of(by),
            category,
            source,
            description,
            address,
            contact_name,
            phone,
            note,
            photos: new.photos,
            close_on_spot: new.close_on_spot,
            attributes: new.attributes,
            spot,
            now,
        })
    }

    /// Files a batch; if its transaction fails, files each report alone so that each gets
    /// its own answer.
    async fn file_reports(&self, reports: Vec<Report>) -> Vec<Result<Created>> {
        match self.file_batch(&reports).await {
            Ok(out) => out,
            Err(e) if reports.len() == 1 => vec![Err(e)],
            Err(e) => {
                tracing::warn!(reports = reports.len(), error = %e, "a batch of reports failed; filing each alone");
                let mut out = Vec::with_capacity(reports.len());
                for r in &reports {
                    out.push(match self.file_batch(std::slice::from_ref(r)).await {
                        Ok(mut one) => one.pop().unwrap_or_else(|| {
                            Err(StoreError::Corrupt("a report went unanswered".into()))
                        }),
                        Err(e) => Err(e),
                    });
                }
                out
            }
        }
    }

    /// Locates, routes and writes `reports`; one answer per report, in order. An `Err` is a
    /// failure of the whole batch (nothing of it was written).
    async fn file_batch(&self, reports: &[Report]) -> Result<Vec<Result<Created>>> {
        let places = self.place_reports(reports).await?;
        let mut answers: Vec<Option<Result<Created>>> = Vec::with_capacity(reports.len());
        let mut routed: Vec<(usize, Routed)> = Vec::with_capacity(reports.len());
        for (i, (report, place)) in reports.iter().zip(places).enumerate() {
            let step = match place {
                Ok(place) => self.route(report, place).await?,
                Err(e) => Err(e),
            };
            match step {
                Ok(r) => {
                    answers.push(None);
                    routed.push((i, r));
                }
                Err(e) => answers.push(Some(Err(e))),
            }
        }
        if !routed.is_empty() {
            let (slots, mut batch): (Vec<usize>, Vec<Routed>) = routed.into_iter().unzip();
            // The open reports near each one are read while the batch is written: one round
            // trip fewer to wait for. The batch's own reports are then matched in memory.
            let asks: Vec<NearAsk> = batch
                .iter()
                .filter_map(|r| {
                    let e = &r.event;
                    let since = e.created_at - DUPLICATE_WINDOW_MS;
                    position_of(e).map(|p| (e.category.as_str(), p, since, None))
                })
                .collect();
            let (written, found) =
                tokio::join!(self.write_reports(&batch), self.nearby_open_for(&asks));
            for (r, id) in batch.iter_mut().zip(written?) {
                r.event.id = id;
            }
            // The batch is stored: a failed search must not fail it (it would be filed again).
            let found = found.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "the search for duplicates failed; answering without");
                Vec::new()
            });
            let mates: Vec<Mate> = batch.iter().map(|r| Mate::of(&r.event)).collect();
            let near = with_batch_mates(&mates, found);
            for (i, (r, duplicates)) in slots.into_iter().zip(batch.into_iter().zip(near)) {
                answers[i] = Some(Ok(Created {
                    event: r.event,
                    duplicates,
                }));
            }
        }
        Ok(answers
            .into_iter()
            .map(|a| {
                a.unwrap_or_else(|| Err(StoreError::Corrupt("a report went unanswered".into())))
            })
            .collect())
    }

    /// Where each report is: its building's region, the region holding its point, or the
    /// region staff named. Buildings and points are read for the whole batch at once.
    async fn place_reports(&self, reports: &[Report]) -> Result<Vec<Result<Place>>> {
        let building_ids: Vec<i64> = reports
            .iter()
            .filter_map(|r| match r.spot {
                Spot::Building(b) => Some(b),
                _ => None,
            })
            .collect();
        let buildings = self.building_places(&building_ids).await?;
        let points: Vec<Position> = reports
            .iter()
            .filter_map(|r| match r.spot {
                Spot::Point(p) => Some(p),
                _ => None,
            })
            .collect();
        let mut located = self.locate_points(&points).await?.into_iter();
        let mut out = Vec::with_capacity(reports.len());
        for r in reports {
            out.push(match r.spot {
                Spot::Building(b) => building_place(b, buildings.get(&b), r.address.clone()),
                Spot::Point(p) => located
                    .next()
                    .unwrap_or_else(|| Err(StoreError::Corrupt("a point went unlocated".into())))
                    .map(|region| Place {
                        region,
                        position: Some(p),
                        building_id: None,
                        address: r.address.clone(),
                    }),
                Spot::Region(region) => {
                    if self.region_exists(region).await? {
                        Ok(Place {
                            region,
                            position: None,
                            building_id: None,
                            address: r.address.clone(),
                        })
                    } else {
                        Err(StoreError::Invalid(
                            Problem::new("unknown_region", "events.unknown_region")
                                .arg("value", region)
                                .field("region"),
                        ))
                    }
                }
            });
        }
        Ok(out)
    }

    /// The registered buildings among `ids`, by id.
    async fn building_places(&self, ids: &[i64]) -> Result<HashMap<i64, BuildingPlace>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows: Vec<BuildingPlace> = on_read!(self, p => {
            let mut q = sqlx::QueryBuilder::<DB>::new(
                "SELECT id, region_key, region_level, lon, lat, name, address FROM buildings WHERE id IN (",
            );
            let mut sep = q.separated(", ");
            for id in ids {
                sep.push_bind(*id);
            }
            q.push(")");
            q.build_query_as().fetch_all(p).await?
        });
        Ok(rows.into_iter().map(|r| (r.0, r)).collect())
    }

    /// Checks the reporter may report there, routes the report by the responsibility list
    /// and, for a closure on the spot, asks the admission list and the state machine. The
    /// outer `Err` is a database failure; the inner one this report's own refusal.
    async fn route<'a>(&self, report: &'a Report, place: Place) -> Result<Result<Routed<'a>>> {
        let by = report.reporter.by();
        // Staff report only within their own area; residents and clients anywhere linli serves.
        if let By::User(u) = by {
            if u.role != Role::Resident && !u.scope.contains(place.region) {
                return Ok(Err(StoreError::Refused(Refusal::OutsideArea)));
            }
        }
        let category = &report.category;
        let now = report.now;
        let allowed_ms = category.deadline_minutes.saturating_mul(60_000);
        let grace_ms = category.grace_minutes.saturating_mul(60_000);
        let deadline = Deadline::new(now, allowed_ms, grace_ms);
        let region = place.region;
        let mut event = Event {
            id: 0,
            category: category.code.clone(),
            description: report.description.clone(),
            source: report.source,
            lon: place.position.map(|p| p[0]),
            lat: place.position.map(|p| p[1]),
            address: place.address,
            building_id: place.building_id,
            region,
            state: State::Pending,
            unit: Unit::first(category.level, category.department_id, region),
            reporter_id: by.id(),
            contact_name: report.contact_name.clone(),
            contact_phone_masked: report.phone.as_ref().map(|p| p.1.clone()),
            created_at: now,
            deadline_start: deadline.start,
            due_at: deadline.due,
            promised_at: deadline.due,
            grace_ms,
            warned: None,
            timer_at: deadline.next(None).map(|(_, at)| at),
            extension_minutes: None,
            escalations: 0,
            reopened: 0,
            accepted_at: None,
            reported_back_at: None,
            closed_at: None,
            closed_on_time: None,
            rating: None,
            rating_comment: None,
            rated_at: None,
            merged_into: None,
            version: 0,
            updated_at: now,
        };
        if report.close_on_spot {
            let community = linli_core::events::unit::ancestor_at(region, Level::Community).key();
            let may = on_read!(self, p => {
                let mut conn = p.acquire().await?;
                let (chain, _) = category_chain!(conn, &category.code);
                grid_may_close!(conn, community, &chain, category.grid_may_close)
            });
            let facts = event.facts(Vec::new(), may, category.department_id);
            match apply(&facts, &Action::CloseOnSpot, &by.flow_actor(), now) {
                Ok(step) => {
                    event.state = step.facts.state;
                    event.closed_at = step.facts.closed_at;
                    event.closed_on_time = Some(true);
                    event.timer_at = None;
                }
                Err(r) => return Ok(Err(StoreError::Refused(r))),
            }
        }
        Ok(Ok(Routed {
            report,
            cell: place.position.map(near_cell_of),
            closing: report.close_on_spot,
            event,
        }))
    }

    async fn region_exists(&self, r: RegionCode) -> Result<bool> {
        let n: Option<i64> = on_read!(self, p => {
            sqlx::query_scalar("SELECT key FROM regions WHERE level = $1 AND key = $2")
                .bind(i64::from(r.level().number()))
                .bind(r.key())
                .fetch_optional(p)
                .await?
        });
        Ok(n.is_some())
    }
}

/// A report's place from its building, or the error naming the unknown building.
fn building_place(id: i64, row: Option<&BuildingPlace>, address: Option<String>) -> Result<Place> {
    let Some((_, key, level, lon, lat, name, addr)) = row else {
        return Err(StoreError::Invalid(
            Problem::new("unknown_building", "events.unknown_building")
                .arg("value", id)
                .field("building_id"),
        ));
    };
    let region = i16::try_from(*level)
        .ok()
        .and_then(Level::from_number)
        .and_then(|l| RegionCode::from_key(*key, l))
        .ok_or_else(|| StoreError::Corrupt(format!("building {id}: region")))?;
    Ok(Place {
        region,
        position: lon.zip(*lat).map(|(lon, lat)| [lon, lat]),
        building_id: Some(id),
        address: address.or(Some(format!("{addr} {name}").trim().to_string())),
    })
}

/// Where a new event is, if it has a position.
fn position_of(e: &Event) -> Option<Position> {
    e.lon.zip(e.lat).map(|(lon, lat)| [lon, lat])
}

/// What the duplicates search needs of a report in a written batch.
struct Mate<'a> {
    id: i64,
    category: &'a str,
    state: State,
    description: &'a str,
    created_at: i64,
    position: Option<Position>,
}

impl<'a> Mate<'a> {
    fn of(e: &'a Event) -> Mate<'a> {
        Mate {
            id: e.id,
            category: &e.category,
            state: e.state,
            description: &e.description,
            created_at: e.created_at,
            position: position_of(e),
        }
    }
}

/// The possible duplicates of each report in a written batch: the open reports found near
/// it (`found`, one list per report with a position, read while the batch was written, so
/// they may or may not hold the batch's own reports) and the batch's other open reports of
/// the same category within [`DUPLICATE_RADIUS_M`], nearest first. (Two batches written at
/// the same moment may miss each other here; the event's page searches again when read.)
fn with_batch_mates(batch: &[Mate<'_>], found: Vec<Vec<Nearby>>) -> Vec<Vec<Nearby>> {
    let ours: HashSet<i64> = batch.iter().map(|m| m.id).collect();
    let mut found = found.into_iter();
    batch
        .iter()
        .map(|m| {
            let Some(p) = m.position else {
                return Vec::new();
            };
            let mut out: Vec<Nearby> = found
                .next()
                .unwrap_or_default()
                .into_iter()
                .filter(|n| !ours.contains(&n.id))
                .collect();
            for o in batch {
                if o.id == m.id || o.category != m.category || !o.state.is_open() {
                    continue;
                }
                let Some(q) = o.position else { continue };
                let meters = haversine_m(p, q);
                if meters <= DUPLICATE_RADIUS_M {
                    out.push(Nearby {
                        id: o.id,
                        state: o.state,
                        description: o.description.to_string(),
                        created_at: o.created_at,
                        meters,
                    });
                }
            }
            out.sort_by(|a, b| a.meters.total_cmp(&b.meters));
            out.truncate(MAX_DUPLICATES_SHOWN);
            out
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mate(id: i64, category: &'static str, state: State, at: Option<Position>) -> Mate<'static> {
        Mate {
            id,
            category,
            state,
            description: "路灯不亮",
            created_at: 0,
            position: at,
        }
    }

    fn found(id: i64, meters: f64) -> Nearby {
        Nearby {
            id,
            state: State::Pending,
            description: String::new(),
            created_at: 0,
            meters,
        }
    }

    #[test]
    fn a_batch_s_reports_are_each_other_s_duplicates_and_not_their_own() {
        let here = [120.17, 30.25];
        // 0.0002° of longitude is about 19 m here, 0.001° about 96 m.
        let batch = [
            mate(1, "light", State::Pending, Some(here)),
            mate(
                2,
                "light",
                State::Pending,
                Some([here[0] + 0.0002, here[1]]),
            ),
            mate(3, "light", State::Pending, Some([here[0] + 0.001, here[1]])),
            mate(4, "noise", State::Pending, Some(here)),
            mate(5, "light", State::Closed, Some(here)),
            mate(6, "light", State::Pending, None),
        ];
        // The read saw an older report 30 m away, and (written first) reports 2 and 1.
        let read = vec![
            vec![found(99, 30.0), found(2, 19.0)],
            vec![found(1, 19.0)],
            vec![],
            vec![],
            vec![],
        ];
        let near = with_batch_mates(&batch, read);
        let ids = |i: usize| near[i].iter().map(|n| n.id).collect::<Vec<_>>();
        assert_eq!(ids(0), [2, 99], "a batch mate once, nearest first");
        assert_eq!(ids(1), [1]);
        assert!(ids(2).is_empty(), "96 m is beyond 50 m");
        assert!(ids(3).is_empty(), "another category");
        assert_eq!(
            ids(4),
            [1, 2],
            "closed on the spot, it still sees open ones"
        );
        assert!(ids(5).is_empty(), "no position, no search");
        assert!((near[0][0].meters - 19.2).abs() < 1.0);
    }
}
