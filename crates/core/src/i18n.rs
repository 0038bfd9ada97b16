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

/// One entry: (key, Chinese, English).
pub type Entry = (&'static str, &'static str, &'static str);

/// The table, in one slice per capability so that each stays beside its own kind of text;
/// lookups see them as one, and the test below checks keys are unique across all of them.
pub static TABLES: &[&[Entry]] = &[
    FOUNDATION,
    crate::registry_text::TABLE,
    crate::registry_app_text::TABLE,
    crate::registry_page_text::TABLE,
    crate::sheet_text::TABLE,
    crate::events_text::TABLE,
    crate::events_page_text::TABLE,
    crate::open311_text::TABLE,
    crate::healthcheck_text::TABLE,
    crate::care_text::TABLE,
    crate::care_page_text::TABLE,
];

/// The entries of the foundation: the shell, sign-in, regions, grids, maps, audit.
pub static FOUNDATION: &[Entry] = &[
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
    ("error.no_route", "没有这个接口，请查看 /docs。", "No such endpoint; see /docs."),
    ("error.grid_full", "{code} 下的编号 001–999 已用完。", "All numbers 001–999 below {code} are taken."),
    ("error.bad_number", "编号“{number}”无效，请填 1 到 999 的整数。", "Number “{number}” is invalid; use a whole number from 1 to 999."),
    ("error.bad_username", "用户名只能用字母、数字、_ - .，最长 64 个字符。", "A username uses letters, digits, _ - . only, at most 64 characters."),
    ("error.weak_password", "密码至少 {min} 个字符。", "A password has at least {min} characters."),
    ("error.username_taken", "用户名 {username} 已存在。", "The username {username} is taken."),
    // Audit
    ("audit.title", "审计日志", "Audit log"),
    ("audit.at", "时间", "When"),
    ("audit.who", "操作人", "Who"),
    ("audit.action", "操作", "Action"),
    ("audit.target", "对象", "Target"),
    ("audit.change", "变更", "Change"),
    ("audit.older", "更早的记录", "Older entries"),
    ("audit.none", "暂无记录。", "No entries yet."),
    ("code.empty", "区域代码为空；请填 2–18 位数字，如 330102。", "The region code is empty; give 2 to 18 digits, e.g. 330102."),
    ("code.not_digits", "区域代码“{code}”的第 {position} 个字符不是数字；代码只能由数字组成。", "Region code “{code}” has a non-digit at position {position}; use digits only."),
    ("code.bad_length", "区域代码“{code}”有 {digits} 位；代码应为 2、4、6、9、12、15 或 18 位。", "Region code “{code}” has {digits} digits; a code has 2, 4, 6, 9, 12, 15 or 18 digits."),
    ("code.zero_segment", "区域代码“{code}”以 {segment} 结尾；网格和微网格编号为 001–999。", "Region code “{code}” ends in {segment}; grid and micro-grid numbers run from 001 to 999."),
    ("error.not_a_grid", "{code} 不是网格或微网格。", "{code} is not a grid or a micro-grid."),
    // Docs
    ("docs.title", "接口文档", "API documentation"),
    ("docs.intro", "所有接口均在 /api/v1 下，使用 Bearer 令牌认证（POST /api/v1/auth/login 获取）。", "All endpoints live under /api/v1 and take a bearer token (from POST /api/v1/auth/login)."),
    ("docs.raw", "OpenAPI 文档（JSON）", "OpenAPI document (JSON)"),
    ("docs.param", "参数", "Parameter"),
    ("docs.in", "位置", "In"),
    ("docs.description", "说明", "Description"),
    ("docs.body", "请求体", "Request body"),
    ("docs.schemas", "数据结构", "Schemas"),
    // Geometry (geo.rs): {path} is where in the GeoJSON, e.g. coordinates[0][3]
    ("geo.not_object", "{path} 应是 JSON 对象（花括号），实际是 {found}。", "{path} must be a JSON object (in curly braces), not {found}."),
    ("geo.missing_type", "{path} 缺少 “type”；应为 {expected} 之一。", "{path} has no “type”; give one of {expected}."),
    ("geo.unknown_type", "{path} 的类型 {found} 不适用；这里应为 {expected} 之一。", "{path} has type {found}, which does not fit here; use one of {expected}."),
    ("geo.need_polygon", "{path} 是 {found}，但边界必须是面（Polygon 或 MultiPolygon）：请把边界画成首尾相接的闭合区域。", "{path} is a {found}, but a boundary must be an area (Polygon or MultiPolygon): draw it as a closed shape."),
    ("geo.need_line", "{path} 是 {found}，这里需要线（LineString 或 MultiLineString）。", "{path} is a {found}; lines (LineString or MultiLineString) are needed here."),
    ("geo.missing_field", "{path} 缺少 “{field}”，请补上。", "{path} lacks “{field}”; add it."),
    ("geo.not_array", "{path} 应是数组（方括号），实际是 {found}。", "{path} must be an array (in square brackets), not {found}."),
    ("geo.null_geometry", "{path} 的 geometry 为空（null）；请为它画出形状。", "{path} has a null geometry; draw its shape."),
    ("geo.no_rings", "{path} 中没有环；Polygon 至少需要一个外环。", "{path} has no rings; a Polygon needs at least its outer ring."),
    ("geo.bad_position", "{path} 不是有效坐标：应为两个（或三个）数字 [经度, 纬度]，实际是 {found}。", "{path} is not a position: give two (or three) numbers [longitude, latitude], not {found}."),
    ("geo.lon_out_of_range", "{path} 的经度 {value} 超出 −180 到 180；坐标顺序应为 [经度, 纬度]，请检查是否写反。", "{path}: longitude {value} is outside −180 to 180; positions are [longitude, latitude], check they are not swapped."),
    ("geo.lat_out_of_range", "{path} 的纬度 {value} 超出 −90 到 90；坐标顺序应为 [经度, 纬度]，请检查是否写反。", "{path}: latitude {value} is outside −90 to 90; positions are [longitude, latitude], check they are not swapped."),
    ("geo.ring_too_short", "{path} 的环只有 {count} 个点；闭合的环至少需要 4 个点（3 个角点再重复第一个点）。", "{path} is a ring of only {count} positions; a closed ring needs at least 4 (three corners, then the first repeated)."),
    ("geo.ring_not_closed", "{path} 的环首尾两点不同：请在末尾重复第一个点 {first}，使环闭合。", "{path} is a ring whose first and last positions differ: close the ring by repeating the first position {first} at the end."),
    ("geo.no_polygons", "{path} 中没有任何面；请至少提供一个 Polygon。", "{path} holds no polygons; give at least one Polygon."),
    ("geo.no_lines", "{path} 中没有任何线；请至少提供一条 LineString。", "{path} holds no lines; give at least one LineString."),
    ("geo.line_too_short", "{path} 的线只有 {count} 个点；一条线至少需要 2 个点。", "{path} is a line of only {count} positions; a line needs at least 2."),
    // Grid import (grid_import.rs)
    ("import.at_file", "文件：{detail}", "File: {detail}"),
    ("import.at_feature", "第 {row} 个要素，{field}：{detail}", "Feature {row}, {field}: {detail}"),
    ("import.field.code", "代码", "code"),
    ("import.field.name", "名称", "name"),
    ("import.field.kind", "设置类型", "setting rule"),
    ("import.field.staff", "网格力量", "staff"),
    ("import.field.boundary", "边界", "boundary"),
    ("import.field.geometry", "边界（geometry）", "boundary (geometry)"),
    ("import.field.properties", "属性（properties）", "properties"),
    ("import.field.feature", "要素", "feature"),
    ("import.field.file", "文件", "file"),
    ("import.field.row", "整行", "whole row"),
    ("import.unsupported_file", "不支持的文件“{name}”；请上传 .csv、.geojson 或 .json 文件。", "Unsupported file “{name}”; upload a .csv, .geojson or .json file."),
    ("import.not_utf8", "文件不是 UTF-8 编码（从第 {line} 行起无法识别）；请在 Excel 中“另存为”，选择“CSV UTF-8（逗号分隔）”后重新导入。", "The file is not UTF-8 (unreadable from line {line}); in Excel use Save As → “CSV UTF-8 (Comma delimited)” and import again."),
    ("import.csv_error", "第 {line} 行附近无法按 CSV 读取；请检查英文双引号是否成对。", "The CSV cannot be read near line {line}; check that double quotes come in pairs."),
    ("import.empty_file", "文件是空的；第一行应为表头，如：代码,名称,设置类型,网格力量,边界", "The file is empty; the first line must be the header, e.g. code,name,kind,staff,boundary"),
    ("import.no_rows", "文件中没有任何网格。", "The file contains no grids."),
    ("import.unknown_column", "未知的列“{column}”；可用的列：{accepted}。请删除该列或改用可用的列名。", "Unknown column “{column}”; accepted columns: {accepted}. Remove it or rename it."),
    ("import.missing_column", "缺少必填的列（{aliases}）；请在表头中加上这一列。", "A required column is missing ({aliases}); add it to the header."),
    ("import.duplicate_column", "“{first}”和“{second}”是同一项，请只保留一个。", "“{first}” and “{second}” mean the same thing; keep only one."),
    ("import.unnamed_column", "第 {column} 列有内容但没有列名；请在表头中为它填上列名，或删除该列。", "Column {column} has values but no name; name it in the header or delete it."),
    ("import.missing_fields", "本行只有 {count} 个字段，表头有 {expected} 个；缺少：{columns}。值为空时也要保留逗号。", "This row has {count} fields but the header has {expected}; missing: {columns}. Keep the commas even for empty values."),
    ("import.too_many_fields", "本行有 {count} 个字段，多于表头的 {expected} 个；含逗号的内容（如边界 GeoJSON）必须用英文双引号括起来。", "This row has {count} fields, more than the header's {expected}; a value containing commas (such as boundary GeoJSON) must be wrapped in double quotes."),
    ("import.code_required", "请填写代码：网格为 15 位，微网格为 18 位。", "A code is required: 15 digits for a grid, 18 for a micro-grid."),
    ("import.code_not_digits", "代码“{code}”的第 {position} 个字符不是数字；代码只能由数字组成。", "Code “{code}” has a non-digit at position {position}; use digits only."),
    ("import.code_scientific", "代码“{code}”被 Excel 写成了科学计数法，位数已丢失；请把代码列设为“文本”格式，重新输入代码后再保存。", "Code “{code}” was saved by Excel in scientific notation and has lost digits; format the code column as Text, type the codes again and save."),
    ("import.code_bad_length", "代码“{code}”有 {digits} 位；网格代码为 15 位（12 位社区代码加 3 位编号），微网格代码为 18 位。", "Code “{code}” has {digits} digits; a grid code has 15 (the 12-digit community code plus 3), a micro-grid code 18."),
    ("import.code_not_grid", "代码“{code}”是 {digits} 位的行政区划代码，不是网格；网格代码为 15 位，微网格代码为 18 位。", "Code “{code}” is a {digits}-digit division code, not a grid; a grid code has 15 digits, a micro-grid code 18."),
    ("import.code_zero_segment", "代码“{code}”以 000 结尾；网格和微网格编号为 001–999。若文件来自 Excel，长数字可能被截断，请把代码列设为“文本”格式。", "Code “{code}” ends in 000; grid and micro-grid numbers run from 001 to 999. If the file came from Excel, long numbers may have been cut: format the code column as Text."),
    ("import.code_not_text", "代码 {value} 应写成文字（加英文双引号）；写成小数或科学计数法会丢失位数。", "Code {value} must be text (in double quotes); as a decimal or in scientific notation it loses digits."),
    ("import.not_text", "应为文字，实际是 {found}。", "Must be text, not {found}."),
    ("import.duplicate_row", "代码 {code} 与第 {first} 行重复；同一网格只能出现一次。", "Code {code} already appears in row {first}; each grid may appear only once."),
    ("import.duplicate_feature", "代码 {code} 与第 {first} 个要素重复；同一网格只能出现一次。", "Code {code} already appears in feature {first}; each grid may appear only once."),
    ("import.staff_no_separator", "“{entry}”缺少角色与姓名之间的冒号；请写作“角色:姓名”，多人用分号隔开，如：网格长:张三;专职网格员:李四", "“{entry}” lacks the colon between role and name; write role:name, several separated by semicolons, e.g. 网格长:张三;专职网格员:李四"),
    ("import.staff_bad_role", "未知的网格力量角色“{role}”；可选：{options}。", "Unknown staff role “{role}”; use one of: {options}."),
    ("import.staff_no_name", "“{entry}”没有填写姓名。", "“{entry}” has no name."),
    ("import.staff_bad_item", "网格力量第 {index} 项应是含 role 和 name 的对象，实际是 {found}。", "Staff item {index} must be an object with role and name, not {found}."),
    ("import.staff_not_list", "网格力量应为文字（如 网格长:张三）或 role/name 对象的数组，实际是 {found}。", "Staff must be text (such as 网格长:张三) or an array of role/name objects, not {found}."),
    ("import.bad_json", "不是有效的 JSON：第 {line} 行第 {column} 列附近有语法错误（常见原因：多了或少了逗号、引号不成对）。", "Not valid JSON: syntax error near line {line}, column {column} (often a missing or extra comma, or an unpaired quote)."),
    ("import.json_eof", "JSON 在第 {line} 行第 {column} 列意外结束；请检查括号和引号是否都已闭合。", "The JSON ends unexpectedly at line {line}, column {column}; check that every bracket and quote is closed."),
    ("import.not_feature_collection", "文件应是 GeoJSON FeatureCollection（type 为 FeatureCollection，features 为要素数组），实际是 {found}。", "The file must be a GeoJSON FeatureCollection (type FeatureCollection with a features array), not {found}."),
    ("import.not_feature", "应是 type 为 Feature 的要素，实际是 {found}。", "Must be a feature (type Feature), not {found}."),
    ("import.properties_not_object", "properties 应是对象，实际是 {found}。", "properties must be an object, not {found}."),
    ("import.geometry_required", "缺少边界：GeoJSON 导入时每个要素都必须有 Polygon 或 MultiPolygon 几何。", "No boundary: in a GeoJSON import every feature needs a Polygon or MultiPolygon geometry."),
];

/// Every entry of every slice.
pub fn entries() -> impl Iterator<Item = &'static Entry> {
    TABLES.iter().flat_map(|t| t.iter())
}

fn index() -> &'static HashMap<&'static str, (&'static str, &'static str)> {
    static INDEX: OnceLock<HashMap<&'static str, (&'static str, &'static str)>> = OnceLock::new();
    INDEX.get_or_init(|| entries().map(|&(k, zh, en)| (k, (zh, en))).collect())
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
        for (k, zh, en) in entries() {
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
        assert_eq!(
            format(Lang::En, "grid.created", &[("name", "G1")]),
            "Created G1."
        );
        assert_eq!(text(Lang::Zh, "no.such.key"), "no.such.key");
        assert_eq!(
            Lang::from_accept_language("en-US,en;q=0.9,zh;q=0.8"),
            Lang::En
        );
        assert_eq!(Lang::from_accept_language("fr, zh-CN;q=0.5"), Lang::Zh);
        assert_eq!(Lang::from_accept_language(""), Lang::Zh);
    }
}
