//! Nation (民族) codes of GB 3304 as stored in the resident card's text block (two digits,
//! devices.md §1.6), with the name as printed on the card (without the suffix 族).

const NAMES: [&str; 56] = [
    "汉",
    "蒙古",
    "回",
    "藏",
    "维吾尔",
    "苗",
    "彝",
    "壮",
    "布依",
    "朝鲜",
    "满",
    "侗",
    "瑶",
    "白",
    "土家",
    "哈尼",
    "哈萨克",
    "傣",
    "黎",
    "傈僳",
    "佤",
    "畲",
    "高山",
    "拉祜",
    "水",
    "东乡",
    "纳西",
    "景颇",
    "柯尔克孜",
    "土",
    "达斡尔",
    "仫佬",
    "羌",
    "布朗",
    "撒拉",
    "毛南",
    "仡佬",
    "锡伯",
    "阿昌",
    "普米",
    "塔吉克",
    "怒",
    "乌孜别克",
    "俄罗斯",
    "鄂温克",
    "德昂",
    "保安",
    "裕固",
    "京",
    "塔塔尔",
    "独龙",
    "鄂伦春",
    "赫哲",
    "门巴",
    "珞巴",
    "基诺",
];

/// The printed name for a nation code: 1–56, 97 其他, 98 外国血统 (foreign origin).
pub fn name(code: u8) -> Option<&'static str> {
    match code {
        1..=56 => Some(NAMES[usize::from(code - 1)]),
        97 => Some("其他"),
        98 => Some("外国血统"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        assert_eq!(name(1), Some("汉"));
        assert_eq!(name(5), Some("维吾尔"));
        assert_eq!(name(10), Some("朝鲜"));
        assert_eq!(name(29), Some("柯尔克孜"));
        assert_eq!(name(56), Some("基诺"));
        assert_eq!(name(98), Some("外国血统"));
        assert_eq!(name(0), None);
        assert_eq!(name(57), None);
    }
}
