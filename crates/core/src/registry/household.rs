//! How people belong to a household: their relation to its head, and whether the household
//! owns or rents its home. Renters matter to the community office (practice 001: registering
//! the floating population), and relations let a grid worker see who lives with an elderly
//! resident.

use crate::i18n::{self, Lang};

/// A resident's relation to the head of the household (与户主关系).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Relation {
    /// 户主 (also written 本人)
    Head,
    /// 配偶
    Spouse,
    /// 子女
    Child,
    /// 父母
    Parent,
    /// 孙子女
    Grandchild,
    /// 兄弟姐妹
    Sibling,
    /// 租客: lives in the home without belonging to the family.
    Tenant,
    /// 其他
    Other,
}

impl Relation {
    pub const ALL: [Relation; 8] = [
        Relation::Head,
        Relation::Spouse,
        Relation::Child,
        Relation::Parent,
        Relation::Grandchild,
        Relation::Sibling,
        Relation::Tenant,
        Relation::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Relation::Head => "head",
            Relation::Spouse => "spouse",
            Relation::Child => "child",
            Relation::Parent => "parent",
            Relation::Grandchild => "grandchild",
            Relation::Sibling => "sibling",
            Relation::Tenant => "tenant",
            Relation::Other => "other",
        }
    }

    pub fn label_key(self) -> &'static str {
        match self {
            Relation::Head => "relation.head",
            Relation::Spouse => "relation.spouse",
            Relation::Child => "relation.child",
            Relation::Parent => "relation.parent",
            Relation::Grandchild => "relation.grandchild",
            Relation::Sibling => "relation.sibling",
            Relation::Tenant => "relation.tenant",
            Relation::Other => "relation.other",
        }
    }

    /// The words household registers use beside the label.
    fn aliases(self) -> &'static [&'static str] {
        match self {
            Relation::Head => &["本人", "户主本人"],
            Relation::Spouse => &["妻", "夫", "妻子", "丈夫"],
            Relation::Child => &["子", "女", "儿子", "女儿", "长子", "长女", "次子", "次女"],
            Relation::Parent => &["父亲", "母亲", "父", "母"],
            Relation::Grandchild => &["孙子", "孙女", "外孙", "外孙女", "孙辈"],
            Relation::Sibling => &["兄", "弟", "姐", "妹", "哥哥", "弟弟", "姐姐", "妹妹"],
            Relation::Tenant => &["租户", "房客", "承租人"],
            Relation::Other => &[],
        }
    }

    /// Accepts the code, the Chinese or English label and the common register words
    /// (本人, 妻子, 长子 …).
    pub fn parse(s: &str) -> Option<Relation> {
        let s = s.trim();
        if s.is_empty() {
            return None;
        }
        Self::ALL.into_iter().find(|r| {
            r.as_str().eq_ignore_ascii_case(s)
                || i18n::text(Lang::Zh, r.label_key()) == s
                || i18n::text(Lang::En, r.label_key()).eq_ignore_ascii_case(s)
                || r.aliases().contains(&s)
        })
    }
}

/// Whether a household lives in a home it owns or one it rents (居住类型).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tenure {
    /// 自住: the owner lives there.
    Owner,
    /// 租住: rented.
    Renter,
}

impl Tenure {
    pub const ALL: [Tenure; 2] = [Tenure::Owner, Tenure::Renter];

    pub fn as_str(self) -> &'static str {
        match self {
            Tenure::Owner => "owner",
            Tenure::Renter => "renter",
        }
    }

    pub fn label_key(self) -> &'static str {
        match self {
            Tenure::Owner => "tenure.owner",
            Tenure::Renter => "tenure.renter",
        }
    }

    /// Accepts the code, the labels and the words registers use: 自有 / 自住 / 业主 for
    /// owners; 租住 / 出租 / 租赁 / 租户 for renters (出租 is the landlord's word for the
    /// same home).
    pub fn parse(s: &str) -> Option<Tenure> {
        let s = s.trim();
        match s {
            "自有" | "自住" | "自有自住" | "业主" => return Some(Tenure::Owner),
            "租住" | "出租" | "租赁" | "租户" | "租房" => return Some(Tenure::Renter),
            _ => {}
        }
        Self::ALL.into_iter().find(|t| {
            t.as_str().eq_ignore_ascii_case(s)
                || i18n::text(Lang::Zh, t.label_key()) == s
                || i18n::text(Lang::En, t.label_key()).eq_ignore_ascii_case(s)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relations() {
        for r in Relation::ALL {
            assert_eq!(Relation::parse(r.as_str()), Some(r));
            assert_eq!(
                Relation::parse(i18n::text(Lang::Zh, r.label_key())),
                Some(r)
            );
            assert_eq!(
                Relation::parse(i18n::text(Lang::En, r.label_key())),
                Some(r)
            );
        }
        for (s, r) in [
            ("户主", Relation::Head),
            ("本人", Relation::Head),
            ("配偶", Relation::Spouse),
            ("子女", Relation::Child),
            ("父母", Relation::Parent),
            ("孙子女", Relation::Grandchild),
            ("兄弟姐妹", Relation::Sibling),
            ("租客", Relation::Tenant),
            ("其他", Relation::Other),
            ("长子", Relation::Child),
        ] {
            assert_eq!(Relation::parse(s), Some(r), "{s}");
        }
        assert_eq!(Relation::parse("邻居"), None);
        assert_eq!(Relation::parse(""), None);
    }

    #[test]
    fn tenures() {
        for (s, t) in [
            ("自有", Tenure::Owner),
            ("自住", Tenure::Owner),
            ("owner", Tenure::Owner),
            ("Owner", Tenure::Owner),
            ("租住", Tenure::Renter),
            ("出租", Tenure::Renter),
            ("renter", Tenure::Renter),
        ] {
            assert_eq!(Tenure::parse(s), Some(t), "{s}");
        }
        for t in Tenure::ALL {
            assert_eq!(Tenure::parse(i18n::text(Lang::Zh, t.label_key())), Some(t));
            assert_eq!(Tenure::parse(i18n::text(Lang::En, t.label_key())), Some(t));
        }
        assert_eq!(Tenure::parse("借住"), None);
    }
}
