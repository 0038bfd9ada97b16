//! Offline map layers: a region's boundary and its roads, imported once and drawn by the
//! browser from linli's own API (no tiles, no internet). The map of any region is assembled
//! from the nearest layers at or above it plus the grid polygons inside it.

use linli_core::geo::{BBox, MultiPolygon};
use linli_core::{Level, RegionCode};
use serde_json::json;

use crate::audit::{write_entry, Actor, Entry};
use crate::regions::level_number;
use crate::{now_ms, on_read, on_write, Result, Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerKind {
    /// GeoJSON MultiPolygon.
    Boundary,
    /// Polylines: `[[[lon, lat], …], …]`.
    Roads,
}

impl LayerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LayerKind::Boundary => "boundary",
            LayerKind::Roads => "roads",
        }
    }
}

/// The map of one region, as JSON text ready to send.
#[derive(Debug, Clone)]
pub struct MapData {
    pub json: String,
}

/// Rounds to 6 decimals (about 0.1 m): plenty for a map, and a third smaller as JSON.
fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// Encodes polylines compactly for storage and sending.
pub fn encode_lines(lines: &[Vec<[f64; 2]>]) -> String {
    let v: Vec<Vec<[f64; 2]>> = lines
        .iter()
        .filter(|l| l.len() >= 2)
        .map(|l| l.iter().map(|[x, y]| [round6(*x), round6(*y)]).collect())
        .collect();
    serde_json::to_string(&v).unwrap_or_else(|_| "[]".to_string())
}

/// The box around every point of the polylines.
pub fn lines_bbox(lines: &[Vec<[f64; 2]>]) -> Option<BBox> {
    BBox::of(lines.iter().flatten())
}

type RawLayer = (i32, i64, String, String, f64, f64, f64, f64, String);

impl Store {
    /// Stores (replacing) a layer of `code`. `data` is the layer's JSON (see [`LayerKind`]).
    pub async fn set_layer(
        &self,
        actor: &Actor,
        code: RegionCode,
        kind: LayerKind,
        data: &str,
        bbox: BBox,
        attribution: &str,
    ) -> Result<()> {
        if self.region(code).await?.is_none() {
            return Err(StoreError::NotFound);
        }
        let entry = Entry {
            target: Some(format!("{code}:{}", kind.as_str())),
            region_key: Some(code.key()),
            after: Some(
                json!({"kind": kind.as_str(), "bytes": data.len(), "attribution": attribution}),
            ),
            ..Entry::new("map_layer.set")
        };
        on_write!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "INSERT INTO map_layers (level, key, kind, data, min_lon, min_lat, max_lon, max_lat, attribution, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (level, key, kind) DO UPDATE SET data = excluded.data, min_lon = excluded.min_lon, \
                   min_lat = excluded.min_lat, max_lon = excluded.max_lon, max_lat = excluded.max_lat, \
                   attribution = excluded.attribution, updated_at = excluded.updated_at",
            )
            .bind(level_number(code.level()))
            .bind(code.key())
            .bind(kind.as_str())
            .bind(data)
            .bind(bbox.min_lon)
            .bind(bbox.min_lat)
            .bind(bbox.max_lon)
            .bind(bbox.max_lat)
            .bind(attribution)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
            write_entry!(&mut *tx, actor, &entry)?;
            tx.commit().await?;
            self.forget_boundaries();
        });
        Ok(())
    }

    /// The imported boundary of exactly this region.
    pub async fn boundary_layer(&self, code: RegionCode) -> Result<Option<MultiPolygon>> {
        let data = on_read!(self, p => {
            sqlx::query_scalar::<_, String>(
                "SELECT data FROM map_layers WHERE level = $1 AND key = $2 AND kind = 'boundary'",
            )
            .bind(level_number(code.level()))
            .bind(code.key())
            .fetch_optional(p)
            .await?
        });
        let Some(data) = data else { return Ok(None) };
        let v: serde_json::Value = serde_json::from_str(&data)
            .map_err(|e| StoreError::Corrupt(format!("boundary of {code}: {e}")))?;
        MultiPolygon::from_geojson(&v)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("boundary of {code}: {e}")))
    }

    /// The roads of the nearest roads layer at or above `code` (the deepest wins), for the
    /// health check's walking network.
    pub async fn roads_at_or_above(&self, code: RegionCode) -> Result<Option<Vec<Vec<[f64; 2]>>>> {
        let mut path = code.ancestors();
        path.push(code);
        let data: Option<String> = on_read!(self, p => {
            let mut qb = sqlx::QueryBuilder::<DB>::new("SELECT data FROM map_layers WHERE kind = 'roads' AND (");
            for (i, c) in path.iter().enumerate() {
                if i > 0 {
                    qb.push(" OR ");
                }
                qb.push("(level = ").push_bind(level_number(c.level())).push(" AND key = ").push_bind(c.key()).push(")");
            }
            qb.push(") ORDER BY level DESC LIMIT 1");
            qb.build_query_scalar::<String>().fetch_optional(p).await?
        });
        let Some(data) = data else { return Ok(None) };
        serde_json::from_str(&data)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("roads layer above {code}: {e}")))
    }

    /// The map of `code`: the nearest boundary and roads at or above it, and the polygons of
    /// the grids and micro-grids inside it. Three queries; stored JSON is passed through
    /// without being parsed again.
    pub async fn map_data(&self, code: RegionCode, name: &str) -> Result<MapData> {
        let mut path = code.ancestors();
        path.push(code);
        let range = code.range();
        let min_level = level_number(code.level().max(Level::Grid));
        let (layers, grids) = on_read!(self, p => {
            let mut qb = sqlx::QueryBuilder::<DB>::new(
                "SELECT level, key, kind, data, min_lon, min_lat, max_lon, max_lat, attribution FROM map_layers WHERE ",
            );
            for (i, c) in path.iter().enumerate() {
                if i > 0 {
                    qb.push(" OR ");
                }
                qb.push("(level = ").push_bind(level_number(c.level())).push(" AND key = ").push_bind(c.key()).push(")");
            }
            let layers = qb.build_query_as::<RawLayer>().fetch_all(p).await?;
            let grids = sqlx::query_as::<_, (i32, i64, String, Option<String>, String, f64, f64, f64, f64)>(
                "SELECT r.level, r.key, r.name, d.kind, d.boundary, d.min_lon, d.min_lat, d.max_lon, d.max_lat \
                 FROM regions r JOIN grid_details d ON d.level = r.level AND d.key = r.key \
                 WHERE r.key >= $1 AND r.key < $2 AND r.level >= $3 AND d.boundary IS NOT NULL \
                 ORDER BY r.level, r.key",
            )
            .bind(range.start)
            .bind(range.end)
            .bind(min_level)
            .fetch_all(p)
            .await?;
            (layers, grids)
        });
        // Nearest layer of each kind: the deepest level wins.
        let nearest = |kind: &str| layers.iter().filter(|l| l.2 == kind).max_by_key(|l| l.0);
        let boundary = nearest("boundary");
        let roads = nearest("roads");
        let mut attribution: Vec<&str> = Vec::new();
        for l in [boundary, roads].into_iter().flatten() {
            if !attribution.contains(&l.8.as_str()) {
                attribution.push(&l.8);
            }
        }
        let mut bbox: Option<BBox> = None;
        let mut grow = |b: BBox| {
            bbox = Some(match bbox {
                None => b,
                Some(a) => BBox {
                    min_lon: a.min_lon.min(b.min_lon),
                    min_lat: a.min_lat.min(b.min_lat),
                    max_lon: a.max_lon.max(b.max_lon),
                    max_lat: a.max_lat.max(b.max_lat),
                },
            })
        };
        // Frame the grids when this region is too small to have a boundary of its own.
        let own_boundary = boundary.filter(|l| l.0 == level_number(code.level()));
        if let Some(l) = own_boundary {
            grow(BBox {
                min_lon: l.4,
                min_lat: l.5,
                max_lon: l.6,
                max_lat: l.7,
            });
        } else if !grids.is_empty() {
            for g in &grids {
                grow(BBox {
                    min_lon: g.5,
                    min_lat: g.6,
                    max_lon: g.7,
                    max_lat: g.8,
                });
            }
        } else if let Some(l) = boundary {
            grow(BBox {
                min_lon: l.4,
                min_lat: l.5,
                max_lon: l.6,
                max_lat: l.7,
            });
        }
        let mut out = String::with_capacity(roads.map(|r| r.3.len()).unwrap_or(0) + 4096);
        out.push_str("{\"region\":");
        out.push_str(
            &json!({"code": code.to_string(), "name": name, "level": code.level().as_str()})
                .to_string(),
        );
        out.push_str(",\"bbox\":");
        out.push_str(&match bbox {
            Some(b) => json!([b.min_lon, b.min_lat, b.max_lon, b.max_lat]).to_string(),
            None => "null".to_string(),
        });
        out.push_str(",\"boundary\":");
        out.push_str(boundary.map(|l| l.3.as_str()).unwrap_or("null"));
        out.push_str(",\"roads\":");
        out.push_str(roads.map(|l| l.3.as_str()).unwrap_or("[]"));
        out.push_str(",\"grids\":[");
        for (i, (l, k, name, kind, geometry, ..)) in grids.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let code = i16::try_from(*l)
                .ok()
                .and_then(Level::from_number)
                .and_then(|lv| RegionCode::from_key(*k, lv));
            let head = json!({
                "code": code.map(|c| c.to_string()),
                "name": name,
                "kind": kind,
            })
            .to_string();
            // Splice the stored geometry into the object without re-parsing it.
            out.push_str(&head[..head.len() - 1]);
            out.push_str(",\"boundary\":");
            out.push_str(geometry);
            out.push('}');
        }
        out.push_str("],\"attribution\":");
        out.push_str(&json!(attribution).to_string());
        out.push('}');
        Ok(MapData { json: out })
    }
}
