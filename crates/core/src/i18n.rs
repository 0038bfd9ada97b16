//! The one translation table. Every string a user reads goes through [`text`] or [`format`]
//! with a key from [`TABLE`]: Chinese first, English second.
//!
//! Placeholders are written `{name}` and filled by [`format`].

use std::collections::HashMap;
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Lang {
    #[default]
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

    /// The value for the HTML `lang` attribute.
    pub fn html(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        let s = s.trim().to_ascii_lowercase();
        if s.starts_with("zh") {
            Some(Lang::Zh)
        } else if s.starts_with("en") {
            Some(Lang::En)
        } else {
            None
        }
    }

    /// Picks the first supported language of an `Accept-Language` header, Chinese if none.
    pub fn from_accept_language(header: &str) -> Lang {
        let mut best: Option<(f32, Lang)> = None;
        for part in header.split(',') {
            let mut it = part.split(';');
            let tag = it.next().unwrap_or("");
            let q = it
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            if let Some(lang) = Lang::parse(tag) {
                if best.is_none_or(|(bq, _)| q > bq) {
                    best = Some((q, lang));
                }
            }
        }
        best.map(|(_, l)| l).unwrap_or_default()
    }
}

/// (key, Chinese, English).
pub static TABLE: &[(&str, &str, &str)] = &[
    // Shell
    ("app.name", "邻里", "linli"),
    ("app.tagline", "社区治理与邻里服务平台", "Community governance and neighbourhood services"),
    ("nav.regions", "区域", "Regions"),
    ("nav.map", "地图", "Map"),
    ("nav.search", "搜索", "Search"),
    ("nav.api_docs", "接口文档", "API docs"),
    ("nav.sign_out", "退出", "Sign out"),
    ("nav.switch_lang", "English", "中文"),
    ("nav.skip", "跳到正文", "Skip to content"),
    // Sign-in
    ("login.title", "登录", "Sign in"),
    ("login.username", "用户名", "Username"),
    ("login.password", "密码", "Password"),
    ("login.submit", "登录", "Sign in"),
    ("login.failed", "用户名或密码不正确。", "Wrong username or password."),
    (
        "login.throttled",
        "登录失败次数过多，请 {minutes} 分钟后再试。",
        "Too many failed sign-ins. Try again in {minutes} minutes.",
    ),
    ("login.signed_in_as", "当前用户", "Signed in as"),
    // Roles
    ("role.admin", "管理员", "Administrator"),
    ("role.leader", "领导", "Leader"),
    ("role.community_worker", "社工", "Community worker"),
    ("role.grid_worker", "网格员", "Grid worker"),
    ("role.department_clerk", "职能部门", "Department clerk"),
    ("role.operator", "运营方", "Service operator"),
    ("role.resident", "居民", "Resident"),
    // Levels
    ("level.nation", "全国", "Whole country"),
    ("level.province", "省", "Province"),
    ("level.city", "市", "City"),
    ("level.district", "区县", "District"),
    ("level.street", "街道", "Street"),
    ("level.community", "社区", "Community"),
    ("level.grid", "网格", "Grid"),
    ("level.micro_grid", "微网格", "Micro-grid"),
    ("level.plural.province", "省份", "Provinces"),
    ("level.plural.city", "城市", "Cities"),
    ("level.plural.district", "区县", "Districts"),
    ("level.plural.street", "街道", "Streets"),
    ("level.plural.community", "社区", "Communities"),
    ("level.plural.grid", "网格", "Grids"),
    ("level.plural.micro_grid", "微网格", "Micro-grids"),
    // Grid kinds (practice 003)
    ("grid_kind.closed_compound", "封闭式小区", "Closed compound"),
    ("grid_kind.market_complex", "市场综合体", "Market complex"),
    ("grid_kind.open_area_by_roads", "开放式居住区（按道路分割）", "Open area split by roads"),
    (
        "grid_kind.large_estate_by_buildings",
        "大体量居住区（按楼栋分割）",
        "Large estate split by buildings",
    ),
    // Grid staff roles (practice 000)
    ("staff_role.grid_head", "网格长", "Grid head"),
    ("staff_role.full_time_worker", "专职网格员", "Full-time grid worker"),
    ("staff_role.part_time_worker", "兼职网格员", "Part-time grid worker"),
    ("staff_role.instructor", "网格指导员", "Grid instructor"),
    // Sources
    ("source.official", "国家统计用区划代码", "National division codes"),
    ("source.manual", "手工录入", "Entered by hand"),
    ("source.imported", "导入", "Imported"),
    ("source.generated", "演示数据（系统生成）", "Demo data (generated)"),
    // Region pages
    ("region.code", "代码", "Code"),
    ("region.name", "名称", "Name"),
    ("region.level", "层级", "Level"),
    ("region.children", "下级", "Children"),
    ("region.child_count", "下级数量", "Children"),
    ("region.source", "来源", "Source"),
    ("region.summary", "概况", "Summary"),
    ("region.no_children", "暂无下级区域。", "No regions below this one yet."),
    ("region.generated_notice", "本区域的网格为演示用的生成数据，并非真实划分。", "The grids here are generated demo data, not a real division."),
    ("region.your_area", "您的管辖范围", "Your area"),
    ("region.provinces", "全国省份", "Provinces"),
    // Search
    ("search.placeholder", "按名称查找区域，如：清波", "Find a region by name, e.g. 清波"),
    ("search.results", "“{q}”的搜索结果", "Results for “{q}”"),
    ("search.none", "在您的管辖范围内没有找到“{q}”。", "Nothing named “{q}” in your area."),
    ("search.too_short", "请输入至少一个字。", "Type at least one character."),
    // Grids
    ("grid.manage", "网格管理", "Grids"),
    ("grid.new", "新建网格", "New grid"),
    ("grid.new_micro", "新建微网格", "New micro-grid"),
    ("grid.edit", "编辑", "Edit"),
    ("grid.delete", "删除", "Delete"),
    ("grid.save", "保存", "Save"),
    ("grid.cancel", "取消", "Cancel"),
    ("grid.number", "编号", "Number"),
    ("grid.number_hint", "1–999，留空则自动分配", "1–999; leave empty to take the next free number"),
    ("grid.kind", "设置类型", "Setting rule"),
    ("grid.staff", "网格力量", "Staff"),
    ("grid.staff_hint", "每行一人：角色,姓名（如：网格长,张三）", "One per line: role,name (e.g. 网格长,张三)"),
    ("grid.boundary", "边界（GeoJSON，可选）", "Boundary (GeoJSON, optional)"),
    ("grid.import", "导入网格", "Import grids"),
    ("grid.import_hint", "CSV 或 GeoJSON 文件；全部通过校验才会写入。", "A CSV or GeoJSON file; nothing is written unless every row is valid."),
    ("grid.import_file", "文件", "File"),
    ("grid.import_submit", "导入", "Import"),
    ("grid.imported", "已导入 {count} 个网格。", "Imported {count} grids."),
    ("grid.created", "已创建 {name}。", "Created {name}."),
    ("grid.updated", "已保存 {name}。", "Saved {name}."),
    ("grid.deleted", "已删除 {name}。", "Deleted {name}."),
    ("grid.confirm_delete", "确定删除 {name} 及其所有微网格吗？", "Delete {name} and all its micro-grids?"),
    ("grid.none", "还没有网格。", "No grids yet."),
    ("grid.not_here", "只能在社区下建网格、在网格下建微网格。", "Grids are made in a community, micro-grids in a grid."),
    // Map
    ("map.title", "地图", "Map"),
    ("map.boundary", "区界", "Boundary"),
    ("map.roads", "道路", "Roads"),
    ("map.grids", "网格", "Grids"),
    ("map.no_layers", "本区域还没有导入地图数据。", "No map data has been imported for this region."),
    ("map.attribution", "数据来源", "Data"),
    // Errors
    ("error.title", "出错了", "Something went wrong"),
    ("error.no_access", "无权访问", "No access"),
    ("error.no_access_detail", "该区域不在您的管辖范围（{scope}）内。", "This region is outside your area ({scope})."),
    ("error.not_found", "未找到", "Not found"),
    ("error.not_found_detail", "没有这个区域：{code}。", "There is no region {code}."),
    ("error.unauthenticated", "请先登录。", "Please sign in first."),
    ("error.forbidden", "您的角色不能执行此操作。", "Your role may not do this."),
    ("error.csrf", "表单已过期，请刷新页面后重试。", "The form has expired; reload the page and try again."),
    ("error.bad_code", "区域代码无效：{detail}", "Invalid region code: {detail}"),
    ("error.duplicate_code", "代码 {code} 已被占用，请换一个编号。", "Code {code} is taken; choose another number."),
    ("error.unknown_parent", "上级区域 {code} 不存在，请先建上级或检查代码。", "The parent region {code} does not exist; create it first or check the code."),
    ("error.bad_level", "{code} 不是社区或网格，不能在其下建网格。", "{code} is not a community or a grid; grids go below communities."),
    ("error.name_required", "请填写名称。", "A name is required."),
    ("error.name_too_long", "名称过长（最多 {max} 个字）。", "The name is too long (at most {max} characters)."),
    ("error.bad_kind", "未知的设置类型“{value}”，可选：{options}。", "Unknown setting rule “{value}”; use one of: {options}."),
    ("error.bad_staff", "第 {line} 行网格力量无效：{detail}", "Staff line {line} is invalid: {detail}"),
    ("error.bad_geojson", "边界 GeoJSON 无效：{detail}", "The boundary GeoJSON is invalid: {detail}"),
    ("error.outside_district", "边界超出了 {district} 的区界：{detail}", "The boundary lies outside {district}: {detail}"),
    ("error.import_failed", "导入失败，未写入任何数据。请修正以下问题后重新导入：", "Import failed; nothing was written. Fix these and import again:"),
    ("error.row", "第 {row} 行，{field}：{detail}", "Row {row}, {field}: {detail}"),
    ("error.bad_request", "请求无效：{detail}", "Bad request: {detail}"),
    ("error.internal", "服务器内部错误，请稍后再试；已记录日志。", "Internal error; it has been logged. Try again later."),
    ("error.back", "返回", "Back"),
    ("error.home", "回到首页", "Home"),
    // Docs
    ("docs.title", "接口文档", "API documentation"),
    ("docs.intro", "所有接口均在 /api/v1 下，使用 Bearer 令牌认证（POST /api/v1/auth/login 获取）。", "All endpoints live under /api/v1 and take a bearer token (from POST /api/v1/auth/login)."),
    ("docs.raw", "OpenAPI 文档（JSON）", "OpenAPI document (JSON)"),
];

fn index() -> &'static HashMap<&'static str, (&'static str, &'static str)> {
    static INDEX: OnceLock<HashMap<&'static str, (&'static str, &'static str)>> = OnceLock::new();
    INDEX.get_or_init(|| TABLE.iter().map(|&(k, zh, en)| (k, (zh, en))).collect())
}

/// The text for `key` in `lang`. An unknown key is returned as it is, so a missing entry is
/// visible on screen (and caught by the table's test) rather than blank.
pub fn text(lang: Lang, key: &str) -> &str {
    match index().get(key) {
        Some((zh, en)) => match lang {
            Lang::Zh => zh,
            Lang::En => en,
        },
        None => key,
    }
}

/// Whether the table has an entry for `key`.
pub fn has(key: &str) -> bool {
    index().contains_key(key)
}

/// The text for `key` with `{name}` placeholders filled from `args`.
pub fn format(lang: Lang, key: &str, args: &[(&str, &str)]) -> String {
    let mut out = text(lang, key).to_string();
    for (name, value) in args {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_unique_and_has_both_languages() {
        let mut seen = std::collections::HashSet::new();
        for (k, zh, en) in TABLE {
            assert!(seen.insert(k), "duplicate key {k}");
            assert!(!zh.is_empty() && !en.is_empty(), "{k} lacks a language");
            // Placeholders must match between the two languages.
            let holes = |s: &str| {
                let mut v: Vec<String> = s
                    .split('{')
                    .skip(1)
                    .filter_map(|p| p.split_once('}').map(|(h, _)| h.to_string()))
                    .collect();
                v.sort();
                v
            };
            assert_eq!(holes(zh), holes(en), "{k}: placeholders differ");
        }
    }

    #[test]
    fn formats_and_falls_back() {
        assert_eq!(format(Lang::En, "grid.created", &[("name", "G1")]), "Created G1.");
        assert_eq!(text(Lang::Zh, "no.such.key"), "no.such.key");
        assert_eq!(Lang::from_accept_language("en-US,en;q=0.9,zh;q=0.8"), Lang::En);
        assert_eq!(Lang::from_accept_language("fr, zh-CN;q=0.5"), Lang::Zh);
        assert_eq!(Lang::from_accept_language(""), Lang::Zh);
    }
}
