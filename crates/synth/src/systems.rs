//! Code systems and identifier systems the generated resources use, in one place so
//! that tests, the master patient index and analytics can refer to them.

/// Citizen ID number (公民身份号码), the national OID.
pub const ID_NUMBER: &str = "urn:oid:2.16.156.10011.1.3";
/// Medical record number (病案号); institution-specific, see `Identifier.assigner`.
pub const MRN: &str = "urn:oid:2.16.156.10011.1.13";
/// Health professional id (医务人员编号).
pub const PRACTITIONER_ID: &str = "urn:oid:2.16.156.10011.1.4";
/// Unified social credit code (统一社会信用代码, GB 32100).
pub const USCC: &str = "https://hutong.dev/fhir/NamingSystem/uscc";
/// Identifier types of the regional guide (CIN, USCC …).
pub const IDENTIFIER_TYPE: &str = "https://hutong.dev/fhir/CodeSystem/cn-identifier-type";
/// WS 364 CV02.01.101 identity document type.
pub const ID_DOCUMENT_TYPE: &str = "urn:oid:2.16.156.10011.2.3.1.1";
/// GB 3304 ethnic groups.
pub const ETHNICITY: &str = "urn:oid:2.16.156.10011.2.3.3.3";
/// GB/T 2261.2 marital status.
pub const MARITAL: &str = "urn:oid:2.16.156.10011.2.3.3.5";
/// WS 364 CV04.50.005 ABO blood group.
pub const ABO: &str = "urn:oid:2.16.156.10011.2.3.1.85";
/// WS 364 CV04.50.020 Rh blood group.
pub const RH: &str = "urn:oid:2.16.156.10011.2.3.1.250";
/// WS 218-2002 health institution classification.
pub const INSTITUTION_TYPE: &str = "https://hutong.dev/fhir/CodeSystem/ws218-institution-type";
/// Hospital grade (regional convention, see CNHospitalLevelCS).
pub const HOSPITAL_LEVEL: &str = "https://hutong.dev/fhir/CodeSystem/hospital-level";
/// GB/T 2260 administrative division code of an address.
pub const DIVISION: &str = "https://hutong.dev/fhir/StructureDefinition/division-code";
/// Extension: ethnicity of a Patient.
pub const EXT_ETHNICITY: &str = "https://hutong.dev/fhir/StructureDefinition/patient-ethnicity";
/// Extension: blood group of a Patient.
pub const EXT_BLOOD: &str = "https://hutong.dev/fhir/StructureDefinition/patient-blood-group";
/// ICD-10 (the national clinical edition shares the WHO codes used here).
pub const ICD10: &str = "http://hl7.org/fhir/sid/icd-10";
/// LOINC.
pub const LOINC: &str = "http://loinc.org";
/// UCUM.
pub const UCUM: &str = "http://unitsofmeasure.org";
/// CVX vaccine codes.
pub const CVX: &str = "http://hl7.org/fhir/sid/cvx";
/// WHO ATC drug classification.
pub const ATC: &str = "http://www.whocc.no/atc";
/// DICOM modality codes.
pub const DICOM: &str = "http://dicom.nema.org/resources/ontology/DCM";
/// HL7 v3 ActCode (encounter class).
pub const ACT_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
/// WS/T 500 shared-document codes (C0001 …).
pub const SHARED_DOCUMENT: &str = "urn:oid:2.16.156.10011.2.4";
