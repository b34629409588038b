//! Identity documents other than the citizen ID, by WS 364 CV02.01.101 type code.

/// Identity document type (身份证件类别, WS 364 CV02.01.101).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum DocumentType {
    /// 01 居民身份证.
    ResidentIdCard,
    /// 02 居民户口簿.
    HouseholdRegister,
    /// 03 护照.
    Passport,
    /// 04 军官证.
    MilitaryOfficer,
    /// 05 驾驶证.
    DrivingLicence,
    /// 06 港澳居民来往内地通行证.
    HongKongMacaoPermit,
    /// 07 台湾居民来往内地通行证.
    TaiwanPermit,
    /// 99 其他法定有效证件.
    Other,
}

impl DocumentType {
    /// The WS 364 code.
    pub fn code(self) -> &'static str {
        match self {
            DocumentType::ResidentIdCard => "01",
            DocumentType::HouseholdRegister => "02",
            DocumentType::Passport => "03",
            DocumentType::MilitaryOfficer => "04",
            DocumentType::DrivingLicence => "05",
            DocumentType::HongKongMacaoPermit => "06",
            DocumentType::TaiwanPermit => "07",
            DocumentType::Other => "99",
        }
    }

    /// Reads a WS 364 code.
    pub fn from_code(code: &str) -> Option<DocumentType> {
        Some(match code.trim() {
            "01" | "1" => DocumentType::ResidentIdCard,
            "02" | "2" => DocumentType::HouseholdRegister,
            "03" | "3" => DocumentType::Passport,
            "04" | "4" => DocumentType::MilitaryOfficer,
            "05" | "5" => DocumentType::DrivingLicence,
            "06" | "6" => DocumentType::HongKongMacaoPermit,
            "07" | "7" => DocumentType::TaiwanPermit,
            "99" => DocumentType::Other,
            _ => return None,
        })
    }
}

/// A document number of a given type, normalised (upper case, no spaces or dashes) so
/// that the same document written two ways compares equal.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IdentityDocument {
    /// Document type.
    pub kind: DocumentType,
    number: String,
}

impl IdentityDocument {
    /// Normalises a document number; `None` if nothing alphanumeric remains or it is
    /// longer than 64 characters.
    pub fn new(kind: DocumentType, number: &str) -> Option<IdentityDocument> {
        let n: String = number
            .chars()
            .map(crate::name::fold_width)
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if n.is_empty() || n.len() > 64 {
            return None;
        }
        Some(IdentityDocument { kind, number: n })
    }

    /// The normalised number. Never log it in clear.
    pub fn number(&self) -> &str {
        &self.number
    }
}

impl std::fmt::Debug for IdentityDocument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "IdentityDocument({}, {})",
            self.kind.code(),
            crate::citizen_id::mask(&self.number)
        )
    }
}
