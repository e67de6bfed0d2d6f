//! Table-driven structural validator for a subset of HL7 FHIR R4 (4.0.1) JSON resources.
//!
//! Every object is checked against a static element table (names, cardinality, types), primitives
//! against the R4 regular expressions, some required value sets and invariants are enforced, and
//! literal references (`Type/id`) are checked against the allowed target types and collected.
//!
//! Refused as unknown elements: primitive extensions (`_element`), and these R4 elements, whose
//! types are outside the supported subset (`contained` and `modifierExtension` get their own issue):
//! - Organization.endpoint
//! - Encounter.episodeOfCare, basedOn, appointment, diagnosis, account, location,
//!   hospitalization.origin, hospitalization.destination
//! - Observation.basedOn, focus, specimen, device, effectiveTiming, valueSampledData (also in component)
//! - DiagnosticReport.basedOn, specimen, media
//! - ImagingStudy.basedOn, endpoint, procedureReference, location, series.endpoint, series.specimen
//! - Provenance.location, entity.agent, signature
//! - Extension.value[x] of types Age, Count, Distance, Duration, Money, SampledData, Signature, Timing,
//!   ContactDetail, Contributor, DataRequirement, Expression, ParameterDefinition, RelatedArtifact,
//!   TriggerDefinition, UsageContext, Dosage
//!
//! Encounter.length (Duration) is checked as a Quantity. The element tables are kept one row per
//! element group in a `#[rustfmt::skip]` module.
//!
//! Reference targets are the R4 targets intersected with [`SUPPORTED`]. Invariants checked: ext-1,
//! cpt-2, qty-3, att-1, pat-1, org-1, obs-3, obs-6, ppc-1, and "a Reference has at least one of
//! reference, type, identifier, display". Not checked: per-1, rng-2, obs-7 and other ordering rules.
use serde_json::{Map, Value};

/// One problem, with the FHIRPath-like location of the element, e.g.
/// `Observation.code.coding[0].system` or `Patient.birthDate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub path: String,
    pub message: String,
}

/// A literal reference found in the resource: where it is and what it points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub path: String,
    pub resource_type: String,
    pub id: String,
}

pub const SUPPORTED: &[&str] = &[
    "Patient",
    "Organization",
    "Practitioner",
    "Encounter",
    "Observation",
    "DiagnosticReport",
    "ImagingStudy",
    "Consent",
    "Provenance",
];

const MAX_ISSUES: usize = 50;
const MAX_DEPTH: usize = 40;
const MAX_STRING: usize = 1024 * 1024;

/// FHIR primitive types; the variant names are the FHIR names (see [`Prim::name`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Prim {
    Id,
    String,
    Markdown,
    Code,
    Uri,
    Url,
    Canonical,
    Oid,
    Uuid,
    Boolean,
    Integer,
    PositiveInt,
    UnsignedInt,
    Decimal,
    Date,
    DateTime,
    Instant,
    Time,
    Base64Binary,
    Xhtml,
}

#[derive(Clone, Copy)]
enum Type {
    P(Prim),
    /// A `code` bound to a required value set.
    Code(&'static [&'static str]),
    Complex(&'static Struct),
    /// A Reference and its allowed target types (empty: any supported type).
    Ref(&'static [&'static str]),
    /// A choice element `name[x]`: (type suffix, type) pairs.
    Choice(&'static [(&'static str, Type)]),
}

struct Element {
    name: &'static str,
    min: u8,
    many: bool,
    ty: Type,
}

/// An invariant check run on an object after its elements: (object, its path, context).
type Hook = fn(&Map<String, Value>, &str, &mut Ctx);

struct Struct {
    elements: &'static [Element],
    check: Option<Hook>,
}

/// The element tables, one row per element (kept dense on purpose, hence no rustfmt).
#[rustfmt::skip]
mod tables {
    use super::*;

    const fn opt(name: &'static str, ty: Type) -> Element { Element { name, min: 0, many: false, ty } }
    const fn req(name: &'static str, ty: Type) -> Element { Element { name, min: 1, many: false, ty } }
    const fn list(name: &'static str, ty: Type) -> Element { Element { name, min: 0, many: true, ty } }
    const fn list1(name: &'static str, ty: Type) -> Element { Element { name, min: 1, many: true, ty } }
    const fn st(elements: &'static [Element], check: Option<Hook>) -> Struct { Struct { elements, check } }
    const fn c(s: &'static Struct) -> Type { Type::Complex(s) }

    const ID: Type = Type::P(Prim::Id);
    const STRING: Type = Type::P(Prim::String);
    const MARKDOWN: Type = Type::P(Prim::Markdown);
    const CODE: Type = Type::P(Prim::Code);
    const URI: Type = Type::P(Prim::Uri);
    const BOOLEAN: Type = Type::P(Prim::Boolean);
    const INTEGER: Type = Type::P(Prim::Integer);
    const UINT: Type = Type::P(Prim::UnsignedInt);
    const DECIMAL: Type = Type::P(Prim::Decimal);
    const DATE: Type = Type::P(Prim::Date);
    const DATETIME: Type = Type::P(Prim::DateTime);
    const INSTANT: Type = Type::P(Prim::Instant);
    const TIME: Type = Type::P(Prim::Time);
    const BASE64: Type = Type::P(Prim::Base64Binary);
    const CC: Type = c(&CODEABLE_CONCEPT);
    const CODING_T: Type = c(&CODING);
    const IDENT: Type = c(&IDENTIFIER);
    const PERIOD_T: Type = c(&PERIOD);
    const NAME: Type = c(&HUMAN_NAME);
    const TELECOM: Type = c(&CONTACT_POINT);
    const ADDR: Type = c(&ADDRESS);
    const QTY: Type = c(&QUANTITY);
    const SQTY: Type = c(&SIMPLE_QUANTITY);
    const RANGE_T: Type = c(&RANGE);
    const RATIO_T: Type = c(&RATIO);
    const ATTACH: Type = c(&ATTACHMENT);
    const NOTE: Type = c(&ANNOTATION);
    const EXT: Type = c(&EXTENSION);

    const GENDER: Type = Type::Code(&["male", "female", "other", "unknown"]);
    const ANY: Type = Type::Ref(&[]);
    const ORG: Type = Type::Ref(&["Organization"]);
    const PAT: Type = Type::Ref(&["Patient"]);
    const PRACT: Type = Type::Ref(&["Practitioner"]);
    const ENC: Type = Type::Ref(&["Encounter"]);
    const WHO: Type = Type::Ref(&["Practitioner", "Organization", "Patient"]);
    const PRACT_ORG: Type = Type::Ref(&["Practitioner", "Organization"]);

    // ---- common elements and datatypes ----

    pub(super) static ELEMENT_COMMON: &[Element] = &[opt("id", STRING), list("extension", EXT)];
    pub(super) static RESOURCE_COMMON: &[Element] = &[
        opt("resourceType", CODE), opt("id", ID), opt("meta", c(&META)), opt("implicitRules", URI),
        opt("language", CODE), opt("text", c(&NARRATIVE)), list("extension", EXT),
    ];
    static EXTENSION_VALUES: &[(&str, Type)] = &[
        ("Base64Binary", BASE64), ("Boolean", BOOLEAN), ("Canonical", Type::P(Prim::Canonical)), ("Code", CODE),
        ("Date", DATE), ("DateTime", DATETIME), ("Decimal", DECIMAL), ("Id", ID), ("Instant", INSTANT),
        ("Integer", INTEGER), ("Markdown", MARKDOWN), ("Oid", Type::P(Prim::Oid)),
        ("PositiveInt", Type::P(Prim::PositiveInt)), ("String", STRING), ("Time", TIME), ("UnsignedInt", UINT),
        ("Uri", URI), ("Url", Type::P(Prim::Url)), ("Uuid", Type::P(Prim::Uuid)),
        ("Address", ADDR), ("Annotation", NOTE), ("Attachment", ATTACH), ("CodeableConcept", CC),
        ("Coding", CODING_T), ("ContactPoint", TELECOM), ("HumanName", NAME), ("Identifier", IDENT),
        ("Period", PERIOD_T), ("Quantity", QTY), ("Range", RANGE_T), ("Ratio", RATIO_T), ("Reference", ANY),
        ("Meta", c(&META)),
    ];
    static EXTENSION: Struct = st(&[req("url", URI), opt("value", Type::Choice(EXTENSION_VALUES))], Some(ext_1));
    static CODING: Struct = st(&[
        opt("system", URI), opt("version", STRING), opt("code", CODE), opt("display", STRING),
        opt("userSelected", BOOLEAN),
    ], None);
    static CODEABLE_CONCEPT: Struct = st(&[list("coding", CODING_T), opt("text", STRING)], None);
    static IDENTIFIER: Struct = st(&[
        opt("use", Type::Code(&["usual", "official", "temp", "secondary", "old"])),
        opt("type", CC), opt("system", URI), opt("value", STRING), opt("period", PERIOD_T), opt("assigner", ORG),
    ], None);
    static HUMAN_NAME: Struct = st(&[
        opt("use", Type::Code(&["usual", "official", "temp", "nickname", "anonymous", "old", "maiden"])),
        opt("text", STRING), opt("family", STRING), list("given", STRING), list("prefix", STRING),
        list("suffix", STRING), opt("period", PERIOD_T),
    ], None);
    static CONTACT_POINT: Struct = st(&[
        opt("system", Type::Code(&["phone", "fax", "email", "pager", "url", "sms", "other"])),
        opt("value", STRING),
        opt("use", Type::Code(&["home", "work", "temp", "old", "mobile"])),
        opt("rank", Type::P(Prim::PositiveInt)), opt("period", PERIOD_T),
    ], Some(cpt_2));
    static ADDRESS: Struct = st(&[
        opt("use", Type::Code(&["home", "work", "temp", "old", "billing"])),
        opt("type", Type::Code(&["postal", "physical", "both"])),
        opt("text", STRING), list("line", STRING), opt("city", STRING), opt("district", STRING),
        opt("state", STRING), opt("postalCode", STRING), opt("country", STRING), opt("period", PERIOD_T),
    ], None);
    static PERIOD: Struct = st(&[opt("start", DATETIME), opt("end", DATETIME)], None);
    static QUANTITY: Struct = st(&[
        opt("value", DECIMAL), opt("comparator", Type::Code(&["<", "<=", ">=", ">"])), opt("unit", STRING),
        opt("system", URI), opt("code", CODE),
    ], Some(qty_3));
    static SIMPLE_QUANTITY: Struct = st(&[
        opt("value", DECIMAL), opt("unit", STRING), opt("system", URI), opt("code", CODE),
    ], Some(qty_3));
    static RANGE: Struct = st(&[opt("low", SQTY), opt("high", SQTY)], None);
    static RATIO: Struct = st(&[opt("numerator", QTY), opt("denominator", QTY)], None);
    pub(super) static REFERENCE: Struct = st(&[
        opt("reference", STRING), opt("type", URI), opt("identifier", IDENT), opt("display", STRING),
    ], None);
    static ANNOTATION: Struct = st(&[
        opt("author", Type::Choice(&[("Reference", WHO), ("String", STRING)])), opt("time", DATETIME),
        req("text", MARKDOWN),
    ], None);
    static ATTACHMENT: Struct = st(&[
        opt("contentType", CODE), opt("language", CODE), opt("data", BASE64), opt("url", Type::P(Prim::Url)),
        opt("size", UINT), opt("hash", BASE64), opt("title", STRING), opt("creation", DATETIME),
    ], Some(att_1));
    static META: Struct = st(&[
        opt("versionId", ID), opt("lastUpdated", INSTANT), opt("source", URI),
        list("profile", Type::P(Prim::Canonical)), list("security", CODING_T), list("tag", CODING_T),
    ], None);
    static NARRATIVE: Struct = st(&[
        req("status", Type::Code(&["generated", "extensions", "additional", "empty"])),
        req("div", Type::P(Prim::Xhtml)),
    ], None);

    // ---- resources ----

    static PATIENT: Struct = st(&[
        list("identifier", IDENT), opt("active", BOOLEAN), list("name", NAME), list("telecom", TELECOM),
        opt("gender", GENDER), opt("birthDate", DATE),
        opt("deceased", Type::Choice(&[("Boolean", BOOLEAN), ("DateTime", DATETIME)])),
        list("address", ADDR), opt("maritalStatus", CC),
        opt("multipleBirth", Type::Choice(&[("Boolean", BOOLEAN), ("Integer", INTEGER)])),
        list("photo", ATTACH), list("contact", c(&PATIENT_CONTACT)), list("communication", c(&COMMUNICATION)),
        list("generalPractitioner", Type::Ref(&["Organization", "Practitioner"])),
        opt("managingOrganization", ORG), list("link", c(&PATIENT_LINK)),
    ], None);
    static PATIENT_CONTACT: Struct = st(&[
        list("relationship", CC), opt("name", NAME), list("telecom", TELECOM), opt("address", ADDR),
        opt("gender", GENDER), opt("organization", ORG), opt("period", PERIOD_T),
    ], Some(pat_1));
    static COMMUNICATION: Struct = st(&[req("language", CC), opt("preferred", BOOLEAN)], None);
    static PATIENT_LINK: Struct = st(&[
        req("other", PAT), req("type", Type::Code(&["replaced-by", "replaces", "refer", "seealso"])),
    ], None);

    static ORGANIZATION: Struct = st(&[
        list("identifier", IDENT), opt("active", BOOLEAN), list("type", CC), opt("name", STRING),
        list("alias", STRING), list("telecom", TELECOM), list("address", ADDR), opt("partOf", ORG),
        list("contact", c(&ORGANIZATION_CONTACT)),
    ], Some(org_1));
    static ORGANIZATION_CONTACT: Struct = st(&[
        opt("purpose", CC), opt("name", NAME), list("telecom", TELECOM), opt("address", ADDR),
    ], None);

    static PRACTITIONER: Struct = st(&[
        list("identifier", IDENT), opt("active", BOOLEAN), list("name", NAME), list("telecom", TELECOM),
        list("address", ADDR), opt("gender", GENDER), opt("birthDate", DATE), list("photo", ATTACH),
        list("qualification", c(&QUALIFICATION)), list("communication", CC),
    ], None);
    static QUALIFICATION: Struct = st(&[
        list("identifier", IDENT), req("code", CC), opt("period", PERIOD_T), opt("issuer", ORG),
    ], None);

    const ENCOUNTER_STATUS: Type = Type::Code(&[
        "planned", "arrived", "triaged", "in-progress", "onleave", "finished", "cancelled", "entered-in-error",
        "unknown",
    ]);
    static ENCOUNTER: Struct = st(&[
        list("identifier", IDENT), req("status", ENCOUNTER_STATUS), list("statusHistory", c(&STATUS_HISTORY)),
        req("class", CODING_T), list("classHistory", c(&CLASS_HISTORY)), list("type", CC),
        opt("serviceType", CC), opt("priority", CC), opt("subject", PAT), list("participant", c(&PARTICIPANT)),
        opt("period", PERIOD_T), opt("length", QTY), list("reasonCode", CC),
        list("reasonReference", Type::Ref(&["Observation"])), opt("hospitalization", c(&HOSPITALIZATION)),
        opt("serviceProvider", ORG), opt("partOf", ENC),
    ], None);
    static STATUS_HISTORY: Struct = st(&[req("status", ENCOUNTER_STATUS), req("period", PERIOD_T)], None);
    static CLASS_HISTORY: Struct = st(&[req("class", CODING_T), req("period", PERIOD_T)], None);
    static PARTICIPANT: Struct = st(&[list("type", CC), opt("period", PERIOD_T), opt("individual", PRACT)], None);
    static HOSPITALIZATION: Struct = st(&[
        opt("preAdmissionIdentifier", IDENT), opt("admitSource", CC), opt("reAdmission", CC),
        list("dietPreference", CC), list("specialCourtesy", CC), list("specialArrangement", CC),
        opt("dischargeDisposition", CC),
    ], None);

    const OBSERVATION_VALUE: Type = Type::Choice(&[
        ("Quantity", QTY), ("CodeableConcept", CC), ("String", STRING), ("Boolean", BOOLEAN),
        ("Integer", INTEGER), ("Range", RANGE_T), ("Ratio", RATIO_T), ("Time", TIME), ("DateTime", DATETIME),
        ("Period", PERIOD_T),
    ]);
    static OBSERVATION: Struct = st(&[
        list("identifier", IDENT), list("partOf", Type::Ref(&["ImagingStudy"])),
        req("status", Type::Code(&[
            "registered", "preliminary", "final", "amended", "corrected", "cancelled", "entered-in-error", "unknown",
        ])),
        list("category", CC), req("code", CC), opt("subject", PAT), opt("encounter", ENC),
        opt("effective", Type::Choice(&[("DateTime", DATETIME), ("Period", PERIOD_T), ("Instant", INSTANT)])),
        opt("issued", INSTANT), list("performer", WHO), opt("value", OBSERVATION_VALUE),
        opt("dataAbsentReason", CC), list("interpretation", CC), list("note", NOTE), opt("bodySite", CC),
        opt("method", CC), list("referenceRange", c(&REFERENCE_RANGE)),
        list("hasMember", Type::Ref(&["Observation"])),
        list("derivedFrom", Type::Ref(&["Observation", "ImagingStudy"])), list("component", c(&COMPONENT)),
    ], Some(obs_6));
    static REFERENCE_RANGE: Struct = st(&[
        opt("low", SQTY), opt("high", SQTY), opt("type", CC), list("appliesTo", CC), opt("age", RANGE_T),
        opt("text", STRING),
    ], Some(obs_3));
    static COMPONENT: Struct = st(&[
        req("code", CC), opt("value", OBSERVATION_VALUE), opt("dataAbsentReason", CC), list("interpretation", CC),
        list("referenceRange", c(&REFERENCE_RANGE)),
    ], Some(obs_6));

    static DIAGNOSTIC_REPORT: Struct = st(&[
        list("identifier", IDENT),
        req("status", Type::Code(&[
            "registered", "partial", "preliminary", "final", "amended", "corrected", "appended", "cancelled",
            "entered-in-error", "unknown",
        ])),
        list("category", CC), req("code", CC), opt("subject", PAT), opt("encounter", ENC),
        opt("effective", Type::Choice(&[("DateTime", DATETIME), ("Period", PERIOD_T)])), opt("issued", INSTANT),
        list("performer", PRACT_ORG), list("resultsInterpreter", PRACT_ORG),
        list("result", Type::Ref(&["Observation"])), list("imagingStudy", Type::Ref(&["ImagingStudy"])),
        opt("conclusion", STRING), list("conclusionCode", CC), list("presentedForm", ATTACH),
    ], None);

    static IMAGING_STUDY: Struct = st(&[
        list("identifier", IDENT),
        req("status", Type::Code(&["registered", "available", "cancelled", "entered-in-error", "unknown"])),
        list("modality", CODING_T), req("subject", PAT), opt("encounter", ENC), opt("started", DATETIME),
        opt("referrer", PRACT), list("interpreter", PRACT), opt("numberOfSeries", UINT),
        opt("numberOfInstances", UINT), list("procedureCode", CC), list("reasonCode", CC),
        list("reasonReference", Type::Ref(&["Observation", "DiagnosticReport"])), list("note", NOTE),
        opt("description", STRING), list("series", c(&SERIES)),
    ], None);
    static SERIES: Struct = st(&[
        req("uid", ID), opt("number", UINT), req("modality", CODING_T), opt("description", STRING),
        opt("numberOfInstances", UINT), opt("bodySite", CODING_T), opt("laterality", CODING_T),
        opt("started", DATETIME), list("performer", c(&SERIES_PERFORMER)), list("instance", c(&INSTANCE)),
    ], None);
    static SERIES_PERFORMER: Struct = st(&[opt("function", CC), req("actor", WHO)], None);
    static INSTANCE: Struct = st(&[
        req("uid", ID), req("sopClass", CODING_T), opt("number", UINT), opt("title", STRING),
    ], None);

    static CONSENT: Struct = st(&[
        list("identifier", IDENT),
        req("status", Type::Code(&["draft", "proposed", "active", "rejected", "inactive", "entered-in-error"])),
        req("scope", CC), list1("category", CC), opt("patient", PAT), opt("dateTime", DATETIME),
        list("performer", Type::Ref(&["Organization", "Patient", "Practitioner"])), list("organization", ORG),
        opt("source", Type::Choice(&[("Attachment", ATTACH), ("Reference", Type::Ref(&["Consent"]))])),
        list("policy", c(&POLICY)), opt("policyRule", CC), list("verification", c(&VERIFICATION)),
        opt("provision", c(&PROVISION)),
    ], Some(ppc_1));
    static POLICY: Struct = st(&[opt("authority", URI), opt("uri", URI)], None);
    static VERIFICATION: Struct = st(&[
        req("verified", BOOLEAN), opt("verifiedWith", PAT), opt("verificationDate", DATETIME),
    ], None);
    static PROVISION: Struct = st(&[
        opt("type", Type::Code(&["deny", "permit"])), opt("period", PERIOD_T), list("actor", c(&PROVISION_ACTOR)),
        list("action", CC), list("securityLabel", CODING_T), list("purpose", CODING_T), list("class", CODING_T),
        list("code", CC), opt("dataPeriod", PERIOD_T), list("data", c(&PROVISION_DATA)),
        list("provision", c(&PROVISION)),
    ], None);
    static PROVISION_ACTOR: Struct = st(&[req("role", CC), req("reference", WHO)], None);
    static PROVISION_DATA: Struct = st(&[
        req("meaning", Type::Code(&["instance", "related", "dependents", "authoredby"])), req("reference", ANY),
    ], None);

    static PROVENANCE: Struct = st(&[
        list1("target", ANY), opt("occurred", Type::Choice(&[("Period", PERIOD_T), ("DateTime", DATETIME)])),
        req("recorded", INSTANT), list("policy", URI), list("reason", CC), opt("activity", CC),
        list1("agent", c(&PROVENANCE_AGENT)), list("entity", c(&PROVENANCE_ENTITY)),
    ], None);
    static PROVENANCE_AGENT: Struct = st(&[
        opt("type", CC), list("role", CC), req("who", WHO), opt("onBehalfOf", WHO),
    ], None);
    static PROVENANCE_ENTITY: Struct = st(&[
        req("role", Type::Code(&["derivation", "revision", "quotation", "source", "removal"])), req("what", ANY),
    ], None);

    pub(super) static RESOURCES: &[(&str, &Struct)] = &[
        ("Patient", &PATIENT), ("Organization", &ORGANIZATION), ("Practitioner", &PRACTITIONER),
        ("Encounter", &ENCOUNTER), ("Observation", &OBSERVATION), ("DiagnosticReport", &DIAGNOSTIC_REPORT),
        ("ImagingStudy", &IMAGING_STUDY), ("Consent", &CONSENT), ("Provenance", &PROVENANCE),
    ];
}
use tables::{ELEMENT_COMMON, REFERENCE, RESOURCE_COMMON, RESOURCES};

// ---- invariants ----

fn has_choice(o: &Map<String, Value>, name: &str) -> bool {
    let variant = |k: &String| {
        k.strip_prefix(name)
            .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_uppercase()))
    };
    o.keys().any(variant)
}

fn has_any(o: &Map<String, Value>, keys: &[&str]) -> bool {
    keys.iter().any(|k| o.contains_key(*k))
}

fn ext_1(o: &Map<String, Value>, path: &str, ctx: &mut Ctx) {
    if has_choice(o, "value") == o.contains_key("extension") {
        ctx.issue(path, "ext-1: must have either extensions or value[x], not both");
    }
}

fn cpt_2(o: &Map<String, Value>, path: &str, ctx: &mut Ctx) {
    if o.contains_key("value") && !o.contains_key("system") {
        ctx.issue(path, "cpt-2: a system is required if a value is provided");
    }
}

fn qty_3(o: &Map<String, Value>, path: &str, ctx: &mut Ctx) {
    if o.contains_key("code") && !o.contains_key("system") {
        ctx.issue(path, "qty-3: if a unit code is present, the system must be too");
    }
}

fn att_1(o: &Map<String, Value>, path: &str, ctx: &mut Ctx) {
    if o.contains_key("data") && !o.contains_key("contentType") {
        ctx.issue(path, "att-1: if the attachment has data, it shall have a contentType");
    }
}

fn pat_1(o: &Map<String, Value>, path: &str, ctx: &mut Ctx) {
    if !has_any(o, &["name", "telecom", "address", "organization"]) {
        ctx.issue(path, "pat-1: needs contact details or a reference to an organization");
    }
}

fn org_1(o: &Map<String, Value>, path: &str, ctx: &mut Ctx) {
    if !has_any(o, &["identifier", "name"]) {
        ctx.issue(path, "org-1: needs at least a name or an identifier");
    }
}

fn obs_3(o: &Map<String, Value>, path: &str, ctx: &mut Ctx) {
    if !has_any(o, &["low", "high", "text"]) {
        ctx.issue(path, "obs-3: needs at least a low or a high or text");
    }
}

fn obs_6(o: &Map<String, Value>, path: &str, ctx: &mut Ctx) {
    if o.contains_key("dataAbsentReason") && has_choice(o, "value") {
        let msg = "obs-6: dataAbsentReason shall only be present if value[x] is not";
        ctx.issue(&format!("{path}.dataAbsentReason"), msg);
    }
}

fn ppc_1(o: &Map<String, Value>, path: &str, ctx: &mut Ctx) {
    if !has_any(o, &["policy", "policyRule"]) {
        ctx.issue(path, "ppc-1: either a policy or a policyRule shall be present");
    }
}

// ---- traversal ----

#[derive(Default)]
struct Ctx {
    issues: Vec<Issue>,
    refs: Vec<Reference>,
}

impl Ctx {
    fn issue(&mut self, path: &str, message: impl Into<String>) {
        if self.issues.len() < MAX_ISSUES {
            let (path, message) = (path.to_string(), message.into());
            self.issues.push(Issue { path, message });
        }
    }
}

/// Validates a resource; on success returns every literal reference (`Type/id`) in it.
pub fn validate(resource: &Value) -> Result<Vec<Reference>, Vec<Issue>> {
    let mut ctx = Ctx::default();
    match resource {
        Value::Object(o) => {
            let rt = o.get("resourceType");
            let known = |s: &str| RESOURCES.iter().find(|(name, _)| *name == s);
            match rt.and_then(Value::as_str).and_then(known) {
                Some((name, def)) => check_object(o, name, def, RESOURCE_COMMON, &mut ctx, 0),
                None => {
                    let shown = match rt {
                        Some(Value::String(s)) => show(s),
                        Some(v) => show(&v.to_string()),
                        None => String::new(),
                    };
                    let msg = format!("unknown or unsupported resource type '{shown}'");
                    ctx.issue("resourceType", msg);
                }
            }
        }
        _ => ctx.issue("", "a resource must be a JSON object"),
    }
    if ctx.issues.is_empty() {
        Ok(ctx.refs)
    } else {
        Err(ctx.issues)
    }
}

/// Finds the element a property belongs to: (repeats, type); choice variants resolve to their type.
fn lookup(elements: &[Element], key: &str) -> Option<(bool, Type)> {
    elements.iter().find_map(|e| match e.ty {
        Type::Choice(variants) => {
            let suffix = key.strip_prefix(e.name)?;
            variants.iter().find(|(s, _)| *s == suffix).map(|(_, t)| (e.many, *t))
        }
        ty => (e.name == key).then_some((e.many, ty)),
    })
}

fn check_object(o: &Map<String, Value>, path: &str, def: &Struct, common: &[Element], ctx: &mut Ctx, depth: usize) {
    if o.is_empty() {
        return ctx.issue(path, "empty objects are not allowed");
    }
    if depth > MAX_DEPTH {
        return ctx.issue(path, "elements are nested too deeply");
    }
    for (key, v) in o {
        if ctx.issues.len() >= MAX_ISSUES {
            return;
        }
        let p = format!("{path}.{key}");
        match key.as_str() {
            "contained" => ctx.issue(&p, "contained resources are not supported"),
            "modifierExtension" => ctx.issue(&p, "modifier extensions are not supported"),
            _ => match lookup(common, key).or_else(|| lookup(def.elements, key)) {
                Some((many, ty)) => check_element(v, &p, many, ty, ctx, depth),
                None => ctx.issue(&p, "unknown element"),
            },
        }
    }
    for e in def.elements {
        let (present, at) = match e.ty {
            Type::Choice(vs) => {
                let present = vs.iter().filter(|(s, _)| o.contains_key(&format!("{}{s}", e.name)));
                (present.count(), format!("{path}.{}[x]", e.name))
            }
            _ => (usize::from(o.contains_key(e.name)), format!("{path}.{}", e.name)),
        };
        if present == 0 && e.min > 0 {
            ctx.issue(&at, "required element missing");
        } else if present > 1 {
            ctx.issue(&at, format!("only one of {}[x] may be present", e.name));
        }
    }
    if let Some(hook) = def.check {
        hook(o, path, ctx);
    }
}

fn check_element(v: &Value, path: &str, many: bool, ty: Type, ctx: &mut Ctx, depth: usize) {
    match (v, many) {
        (Value::Null, _) => ctx.issue(path, "null is not allowed"),
        (Value::Array(items), true) if items.is_empty() => ctx.issue(path, "empty arrays are not allowed"),
        (Value::Array(items), true) => {
            for (i, item) in items.iter().enumerate() {
                let p = format!("{path}[{i}]");
                match item {
                    Value::Null => ctx.issue(&p, "null is not allowed"),
                    Value::Array(_) => ctx.issue(&p, "nested arrays are not allowed"),
                    _ => check_value(item, &p, ty, ctx, depth),
                }
            }
        }
        (Value::Array(_), false) => ctx.issue(path, "element has max cardinality 1, an array is not allowed"),
        (_, true) => ctx.issue(path, "element repeats, an array is required"),
        (_, false) => check_value(v, path, ty, ctx, depth),
    }
}

fn check_value(v: &Value, path: &str, ty: Type, ctx: &mut Ctx, depth: usize) {
    match ty {
        Type::P(p) => {
            check_prim(v, path, p, ctx);
        }
        Type::Code(set) => {
            if check_prim(v, path, Prim::Code, ctx)
                && let Some(s) = v.as_str()
                && !set.contains(&s)
            {
                ctx.issue(path, format!("'{}' is not one of {}", show(s), set.join("|")));
            }
        }
        Type::Complex(_) | Type::Ref(_) => match v.as_object() {
            Some(o) => {
                let def = if let Type::Complex(def) = ty { def } else { &REFERENCE };
                check_object(o, path, def, ELEMENT_COMMON, ctx, depth + 1);
                if let Type::Ref(targets) = ty
                    && !o.is_empty()
                {
                    check_reference(o, path, targets, ctx);
                }
            }
            None => ctx.issue(path, "expected a JSON object"),
        },
        Type::Choice(_) => {}
    }
}

fn check_reference(o: &Map<String, Value>, path: &str, targets: &[&str], ctx: &mut Ctx) {
    let allowed = if targets.is_empty() { SUPPORTED } else { targets };
    let unsupported = |t: &str| {
        format!(
            "reference to {} is not supported here, expected {}",
            show(t),
            allowed.join("|")
        )
    };
    if !has_any(o, &["reference", "type", "identifier", "display"]) {
        ctx.issue(path, "a reference needs reference, type, identifier or display");
    }
    let declared = o.get("type").and_then(Value::as_str).filter(|t| !t.is_empty());
    let type_path = format!("{path}.type");
    if let Some(t) = declared.filter(|t| !allowed.contains(t)) {
        ctx.issue(&type_path, unsupported(t));
    }
    let Some(r) = o.get("reference").and_then(Value::as_str).filter(|r| !r.is_empty()) else {
        return;
    };
    let at = format!("{path}.reference");
    if r.contains("://") || r.starts_with('#') || r.starts_with("urn:") {
        return ctx.issue(&at, "references must be relative, Type/id");
    }
    let type_name = |t: &str| !t.is_empty() && t.chars().all(|c| c.is_ascii_alphabetic());
    let Some((rt, id)) = r.split_once('/').filter(|(t, id)| type_name(t) && valid_id(id)) else {
        return ctx.issue(&at, format!("'{}' is not a valid reference, expected Type/id", show(r)));
    };
    if !allowed.contains(&rt) {
        ctx.issue(&at, unsupported(rt));
    } else if let Some(t) = declared.filter(|t| *t != rt) {
        let msg = format!("type '{}' does not match reference '{}'", show(t), show(r));
        ctx.issue(&type_path, msg);
    } else {
        let (path, resource_type, id) = (path.to_string(), rt.to_string(), id.to_string());
        ctx.refs.push(Reference {
            path,
            resource_type,
            id,
        });
    }
}

// ---- primitives ----

impl Prim {
    /// The FHIR name of the type: the variant name with a lower-case first letter.
    fn name(self) -> String {
        let debug = format!("{self:?}");
        let mut chars = debug.chars();
        chars
            .next()
            .map(|c| c.to_ascii_lowercase().to_string() + chars.as_str())
            .unwrap_or_default()
    }
}

/// Shortens a value for quoting in a message.
fn show(s: &str) -> String {
    let mut out: String = s.chars().take(60).collect();
    if out.len() < s.len() {
        out.push_str("...");
    }
    out
}

fn check_prim(v: &Value, path: &str, p: Prim, ctx: &mut Ctx) -> bool {
    let expected = |what: &str| Some(format!("expected a JSON {what}"));
    let problem = match (p, v) {
        (Prim::Boolean, Value::Bool(_)) | (Prim::Decimal, Value::Number(_)) => None,
        (Prim::Boolean, _) => expected("boolean"),
        (Prim::Decimal, _) => expected("number"),
        (Prim::Integer | Prim::PositiveInt | Prim::UnsignedInt, Value::Number(n)) => {
            let min = match p {
                Prim::PositiveInt => 1,
                Prim::UnsignedInt => 0,
                _ => i64::from(i32::MIN),
            };
            match n.as_i64() {
                Some(i) if (min..=i64::from(i32::MAX)).contains(&i) => None,
                _ if n.is_f64() => expected("integer"),
                _ => Some(format!("{n} is out of range for {}", p.name())),
            }
        }
        (Prim::Integer | Prim::PositiveInt | Prim::UnsignedInt, _) => expected("integer"),
        (_, Value::String(s)) => check_str(p, s),
        _ => expected("string"),
    };
    if let Some(msg) = &problem {
        ctx.issue(path, msg.as_str());
    }
    problem.is_none()
}

fn check_str(p: Prim, s: &str) -> Option<String> {
    let ok = match p {
        _ if s.is_empty() => return Some("empty strings are not allowed".to_string()),
        Prim::String | Prim::Markdown if s.len() > MAX_STRING => return Some("strings may be at most 1 MB".into()),
        Prim::Xhtml if !s.starts_with("<div") => return Some("the narrative must start with <div".into()),
        Prim::Xhtml if s.to_ascii_lowercase().contains("<script") => return Some("<script> is not allowed".into()),
        Prim::String | Prim::Markdown | Prim::Xhtml => true,
        Prim::Id => valid_id(s),
        Prim::Code => {
            let b = s.as_bytes();
            let ws = |c: &u8| c.is_ascii_whitespace();
            !b.first().is_some_and(ws) && !b.last().is_some_and(ws) && !b.windows(2).any(|w| w.iter().all(ws))
        }
        Prim::Uri | Prim::Url | Prim::Canonical => !s.chars().any(char::is_whitespace),
        Prim::Oid => s.strip_prefix("urn:oid:").is_some_and(valid_oid),
        Prim::Uuid => s.strip_prefix("urn:uuid:").is_some_and(valid_uuid),
        Prim::Date => valid_date(s, false),
        Prim::DateTime => valid_date_time(s, false),
        Prim::Instant => valid_date_time(s, true),
        Prim::Time => valid_time(s),
        Prim::Base64Binary => valid_base64(s),
        Prim::Boolean | Prim::Integer | Prim::PositiveInt | Prim::UnsignedInt | Prim::Decimal => false,
    };
    (!ok).then(|| format!("'{}' is not a valid {}", show(s), p.name()))
}

fn valid_id(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

fn valid_oid(s: &str) -> bool {
    let arcs: Vec<&str> = s.split('.').collect();
    let arc =
        |a: &&str| !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()) && (a.len() == 1 || !a.starts_with('0'));
    arcs.len() >= 2 && matches!(arcs.first(), Some(&("0" | "1" | "2"))) && arcs.iter().all(arc)
}

fn valid_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(hex))
}

/// Parses exactly `len` ASCII digits.
fn digits(s: &str, len: usize) -> Option<u32> {
    (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// `YYYY`, `YYYY-MM` or `YYYY-MM-DD` (only the last when `full`), with real month and day ranges.
fn valid_date(s: &str, full: bool) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let year = parts.first().and_then(|y| digits(y, 4)).filter(|y| *y > 0);
    let month = parts.get(1).and_then(|m| digits(m, 2)).filter(|m| (1..=12).contains(m));
    let day = parts.get(2).and_then(|d| digits(d, 2));
    match (parts.len(), year, month, day) {
        (1, Some(_), _, _) | (2, Some(_), Some(_), _) => !full,
        (3, Some(y), Some(m), Some(d)) => {
            let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
            let last = match m {
                2 if leap => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            (1..=last).contains(&d)
        }
        _ => false,
    }
}

/// `hh:mm:ss(.fraction)?`; a leap second (60) is allowed as in the R4 regex.
fn valid_time(s: &str) -> bool {
    let (hms, fraction) = s.split_once('.').unwrap_or((s, "0"));
    let parts: Vec<&str> = hms.split(':').collect();
    let [h, m, sec] = parts.as_slice() else { return false };
    !fraction.is_empty()
        && fraction.bytes().all(|b| b.is_ascii_digit())
        && digits(h, 2).is_some_and(|h| h < 24)
        && digits(m, 2).is_some_and(|m| m < 60)
        && digits(sec, 2).is_some_and(|x| x <= 60)
}

/// `Z` or `(+|-)hh:mm` with hours up to 14:00.
fn valid_zone(z: &str) -> bool {
    let offset = z
        .strip_prefix('+')
        .or_else(|| z.strip_prefix('-'))
        .and_then(|r| r.split_once(':'));
    match offset.map(|(h, m)| (digits(h, 2), digits(m, 2))) {
        _ if z == "Z" => true,
        Some((Some(14), Some(0))) => true,
        Some((Some(h), Some(m))) => h <= 13 && m < 60,
        _ => false,
    }
}

/// A date form (not for an instant) or a full date with `Thh:mm:ss(.fraction)?` and a zone.
fn valid_date_time(s: &str, instant: bool) -> bool {
    let Some((date, rest)) = s.split_once('T') else {
        return !instant && valid_date(s, false);
    };
    let Some((time, zone)) = rest.find(['Z', '+', '-']).and_then(|at| rest.split_at_checked(at)) else {
        return false;
    };
    valid_date(date, true) && valid_time(time) && valid_zone(zone)
}

fn valid_base64(s: &str) -> bool {
    let b: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    let pad = b.iter().rev().take_while(|c| **c == b'=').count();
    let mut body = b.iter().take(b.len().saturating_sub(pad));
    !b.is_empty()
        && b.len().is_multiple_of(4)
        && pad <= 2
        && body.all(|c| c.is_ascii_alphanumeric() || b"+/".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The realistic valid examples, by name (see `example`).
    const EXAMPLES: &[&str] = &[
        "Patient",
        "Organization",
        "Practitioner",
        "Encounter",
        "Observation",
        "BloodPressure",
        "DiagnosticReport",
        "ImagingStudy",
        "Consent",
        "ConsentRegional",
        "Provenance",
    ];

    fn ucum(value: i64, unit: &str, code: &str) -> Value {
        json!({"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": code})
    }

    fn example(name: &str) -> Value {
        let loinc = |code: &str| json!({"coding": [{"system": "http://loinc.org", "code": code}]});
        let tho = |cs: &str, code: &str| {
            let system = format!("http://terminology.hl7.org/CodeSystem/{cs}");
            json!({"coding": [{"system": system, "code": code}]})
        };
        let dcm = json!({"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "CT"});
        let sop = json!({"system": "urn:ietf:rfc:3986", "code": "urn:oid:1.2.840.10008.5.1.4.1.1.2"});
        match name {
            "Patient" => json!({
                "resourceType": "Patient", "id": "pat-001",
                "meta": {"lastUpdated": "2024-03-01T08:30:00+08:00",
                         "profile": ["http://hl7.org/fhir/StructureDefinition/Patient"]},
                "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">张伟</div>"},
                "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/patient-nationality",
                               "extension": [{"url": "code", "valueCodeableConcept":
                                   {"coding": [{"system": "urn:iso:std:iso:3166", "code": "CN"}]}}]}],
                "identifier": [{"use": "official", "system": "urn:oid:2.16.156.10011.1.3",
                                "value": "110101199003071234"}],
                "active": true, "name": [{"use": "official", "text": "张伟", "family": "张", "given": ["伟"]}],
                "telecom": [{"system": "phone", "value": "+86 138 0013 8000", "use": "mobile", "rank": 1}],
                "gender": "male", "birthDate": "1990-03-07", "deceasedBoolean": false,
                "address": [{"use": "home", "type": "physical", "line": ["张江路100号"], "city": "上海市",
                             "district": "浦东新区", "postalCode": "201203", "country": "CN"}],
                "maritalStatus": tho("v3-MaritalStatus", "M"), "multipleBirthInteger": 1,
                "contact": [{"relationship": [tho("v2-0131", "N")], "name": {"family": "李", "given": ["娜"]},
                             "telecom": [{"system": "phone", "value": "+86 139 0000 0000"}], "gender": "female"}],
                "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "zh-CN"}]},
                                   "preferred": true}],
                "generalPractitioner": [{"reference": "Practitioner/prac-001"}],
                "managingOrganization": {"reference": "Organization/org-001", "display": "上海市第一人民医院"},
                "link": [{"other": {"reference": "Patient/pat-000"}, "type": "seealso"}]
            }),
            "Organization" => json!({
                "resourceType": "Organization", "id": "org-001",
                "identifier": [{"system": "urn:oid:2.16.156.10011.1.5", "value": "425006295"}],
                "active": true, "type": [tho("organization-type", "prov")],
                "name": "上海市第一人民医院", "alias": ["市一医院"],
                "telecom": [{"system": "phone", "value": "+86 21 6324 0090", "use": "work"}],
                "address": [{"use": "work", "line": ["虹口区海宁路100号"], "city": "上海市", "postalCode": "200080"}],
                "partOf": {"reference": "Organization/org-000"},
                "contact": [{"purpose": tho("contactentity-type", "ADMIN"), "name": {"text": "医务处"},
                             "telecom": [{"system": "email", "value": "yiwu@example.cn"}]}]
            }),
            "Practitioner" => json!({
                "resourceType": "Practitioner", "id": "prac-001",
                "identifier": [{"system": "urn:yrd:sid:practitioner", "value": "110310000012345"}],
                "active": true, "name": [{"use": "official", "family": "王", "given": ["芳"], "prefix": ["主任医师"]}],
                "telecom": [{"system": "email", "value": "wangfang@example.cn", "use": "work"}],
                "gender": "female", "birthDate": "1975-11",
                "qualification": [{"code": tho("v2-0360", "MD"), "period": {"start": "2000-07-01"},
                                   "issuer": {"reference": "Organization/org-001"}}],
                "communication": [{"coding": [{"system": "urn:ietf:bcp:47", "code": "zh"}]}]
            }),
            "Encounter" => json!({
                "resourceType": "Encounter", "id": "enc-001", "status": "finished",
                "identifier": [{"system": "urn:yrd:sid:encounter", "value": "ZY20240105001"}],
                "statusHistory": [{"status": "in-progress", "period": {"start": "2024-01-05T09:00:00+08:00"}}],
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
                "classHistory": [{"class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                                            "code": "EMER"},
                                  "period": {"start": "2024-01-05T08:00:00+08:00",
                                             "end": "2024-01-05T09:00:00+08:00"}}],
                "type": [{"text": "住院"}], "serviceType": {"text": "呼吸内科"}, "priority": tho("v3-ActPriority", "EM"),
                "subject": {"reference": "Patient/pat-001"},
                "participant": [{"type": [tho("v3-ParticipationType", "ATND")],
                                 "individual": {"reference": "Practitioner/prac-001"}}],
                "period": {"start": "2024-01-05T08:00:00+08:00", "end": "2024-01-10T10:00:00+08:00"},
                "length": ucum(5, "d", "d"), "reasonCode": [{"text": "社区获得性肺炎"}],
                "reasonReference": [{"reference": "Observation/obs-hb"}],
                "hospitalization": {"preAdmissionIdentifier": {"system": "urn:yrd:sid:admission", "value": "RY001"},
                                    "admitSource": tho("admit-source", "emd"),
                                    "dischargeDisposition": tho("discharge-disposition", "home")},
                "serviceProvider": {"reference": "Organization/org-001"}
            }),
            "Observation" => json!({
                "resourceType": "Observation", "id": "obs-hb", "status": "final",
                "category": [tho("observation-category", "laboratory")],
                "code": {"coding": [{"system": "http://loinc.org", "code": "718-7",
                                     "display": "Hemoglobin [Mass/volume] in Blood"}], "text": "血红蛋白"},
                "subject": {"reference": "Patient/pat-001"}, "encounter": {"reference": "Encounter/enc-001"},
                "effectiveDateTime": "2024-01-05T09:30:00+08:00", "issued": "2024-01-05T11:02:13.120+08:00",
                "performer": [{"reference": "Organization/org-001"}], "valueQuantity": ucum(135, "g/L", "g/L"),
                "interpretation": [tho("v3-ObservationInterpretation", "N")],
                "note": [{"authorString": "检验科", "time": "2024-01-05T11:00:00+08:00", "text": "标本无溶血"}],
                "referenceRange": [{"low": ucum(130, "g/L", "g/L"), "high": ucum(175, "g/L", "g/L"),
                                    "appliesTo": [{"text": "成年男性"}]}]
            }),
            "BloodPressure" => json!({
                "resourceType": "Observation", "id": "obs-bp", "status": "final", "code": loinc("85354-9"),
                "subject": {"reference": "Patient/pat-001"}, "effectivePeriod": {"start": "2024-01-05T08:00:00Z"},
                "hasMember": [{"reference": "Observation/obs-hb"}],
                "component": [{"code": loinc("8480-6"), "valueQuantity": ucum(128, "mmHg", "mm[Hg]")},
                              {"code": loinc("8462-4"), "dataAbsentReason": tho("data-absent-reason", "error")}]
            }),
            "DiagnosticReport" => json!({
                "resourceType": "DiagnosticReport", "id": "dr-001", "status": "final",
                "category": [tho("v2-0074", "HM")], "code": loinc("58410-2"),
                "subject": {"reference": "Patient/pat-001"}, "encounter": {"reference": "Encounter/enc-001"},
                "effectiveDateTime": "2024-01-05T09:30:00+08:00", "issued": "2024-01-05T11:05:00+08:00",
                "performer": [{"reference": "Organization/org-001"}],
                "resultsInterpreter": [{"reference": "Practitioner/prac-001"}],
                "result": [{"reference": "Observation/obs-hb"}, {"reference": "Observation/obs-wbc"}],
                "imagingStudy": [{"reference": "ImagingStudy/img-001"}], "conclusion": "血常规未见明显异常",
                "conclusionCode": [{"coding": [{"system": "http://snomed.info/sct", "code": "17621005"}]}],
                "presentedForm": [{"contentType": "application/pdf", "data": "JVBERi0xLjQK", "title": "血常规报告"}]
            }),
            "ImagingStudy" => json!({
                "resourceType": "ImagingStudy", "id": "img-001", "status": "available", "modality": [dcm],
                "identifier": [{"system": "urn:dicom:uid", "value": "urn:oid:1.2.840.113619.2.55.3.604688119"}],
                "subject": {"reference": "Patient/pat-001"}, "encounter": {"reference": "Encounter/enc-001"},
                "started": "2024-01-05T10:15:00+08:00", "referrer": {"reference": "Practitioner/prac-001"},
                "interpreter": [{"reference": "Practitioner/prac-001"}], "numberOfSeries": 1, "numberOfInstances": 2,
                "procedureCode": [{"text": "胸部CT平扫"}], "reasonCode": [{"text": "咳嗽发热"}],
                "reasonReference": [{"reference": "DiagnosticReport/dr-001"}],
                "note": [{"text": "患者配合良好"}], "description": "胸部CT平扫",
                "series": [{
                    "uid": "1.2.840.113619.2.55.3.604688119.1", "number": 1, "modality": dcm,
                    "description": "胸部 1.25mm", "numberOfInstances": 2, "started": "2024-01-05T10:16:00+08:00",
                    "bodySite": {"system": "http://snomed.info/sct", "code": "51185008",
                                 "display": "Thoracic structure"},
                    "performer": [{"function": tho("v3-ParticipationType", "PRF"),
                                   "actor": {"reference": "Practitioner/prac-001"}}],
                    "instance": [{"uid": "1.2.840.113619.2.55.3.604688119.1.1", "sopClass": sop, "number": 1},
                                 {"uid": "1.2.840.113619.2.55.3.604688119.1.2", "sopClass": sop, "number": 2}]
                }]
            }),
            "Consent" => json!({
                "resourceType": "Consent", "id": "consent-001", "status": "active",
                "scope": tho("consentscope", "patient-privacy"), "category": [loinc("59284-0")],
                "patient": {"reference": "Patient/pat-001"}, "dateTime": "2024-01-05T08:10:00+08:00",
                "performer": [{"reference": "Patient/pat-001"}],
                "organization": [{"reference": "Organization/org-001"}],
                "sourceAttachment": {"contentType": "application/pdf", "url": "https://example.cn/consent/001.pdf"},
                "policy": [{"authority": "https://www.nhc.gov.cn", "uri": "https://www.nhc.gov.cn/policy/001"}],
                "verification": [{"verified": true, "verifiedWith": {"reference": "Patient/pat-001"},
                                  "verificationDate": "2024-01-05T08:12:00+08:00"}],
                "provision": {
                    "type": "permit", "period": {"start": "2024-01-05", "end": "2025-01-05"},
                    "actor": [{"role": tho("v3-ParticipationType", "IRCP"),
                               "reference": {"reference": "Organization/org-001"}}],
                    "action": [tho("consentaction", "access")],
                    "purpose": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "TREAT"}],
                    "data": [{"meaning": "instance", "reference": {"reference": "DiagnosticReport/dr-001"}}],
                    "provision": [{"type": "deny",
                                   "class": [{"system": "http://hl7.org/fhir/resource-types", "code": "ImagingStudy"}]}]
                }
            }),
            // Regional consent: a policyRule instead of a policy, the actor known only by an identifier.
            "ConsentRegional" => patched(
                "Consent",
                &json!({
                    "/id": "consent-002", "/policy": "DEL", "/policyRule": tho("v3-ActCode", "OPTIN"),
                    "/sourceAttachment": "DEL", "/sourceReference": {"reference": "Consent/consent-001"},
                    "/provision/actor": [{"role": {"text": "区域卫生平台"},
                        "reference": {"identifier": {"system": "urn:yrd:sid:jurisdiction", "value": "310000"}}}]
                }),
            ),
            "Provenance" => json!({
                "resourceType": "Provenance", "id": "prov-001",
                "target": [{"reference": "DiagnosticReport/dr-001"}, {"reference": "Observation/obs-hb"}],
                "occurredDateTime": "2024-01-05T11:05:00+08:00", "recorded": "2024-01-05T11:05:30.250+08:00",
                "policy": ["https://www.nhc.gov.cn/policy/001"], "reason": [tho("v3-ActReason", "TREAT")],
                "activity": tho("v3-DataOperation", "CREATE"),
                "agent": [{"type": tho("provenance-participant-type", "author"),
                           "who": {"reference": "Practitioner/prac-001"},
                           "onBehalfOf": {"reference": "Organization/org-001"}}],
                "entity": [{"role": "source", "what": {"reference": "ImagingStudy/img-001"}}]
            }),
            _ => Value::Null,
        }
    }

    /// An example with `{json-pointer: value}` patches applied; the value "DEL" removes the element.
    fn patched(name: &str, patches: &Value) -> Value {
        let mut v = example(name);
        for (pointer, new) in patches.as_object().into_iter().flatten() {
            let (parent, key) = pointer.rsplit_once('/').expect("pointer");
            match (v.pointer_mut(parent), new.as_str() == Some("DEL")) {
                (Some(Value::Object(o)), true) => drop(o.remove(key)),
                (Some(Value::Object(o)), false) => drop(o.insert(key.to_string(), new.clone())),
                (Some(Value::Array(a)), _) => a[key.parse::<usize>().expect("index")] = new.clone(),
                _ => panic!("cannot apply {pointer} to {name}"),
            }
        }
        v
    }

    fn issues(v: &Value) -> Vec<Issue> {
        validate(v).err().unwrap_or_default()
    }

    /// Checks a table of `[example, patches, expected issue path, part of its message]`.
    fn assert_refused(cases: Value) {
        for case in cases.as_array().expect("cases") {
            let field = |i: usize| case.get(i).and_then(Value::as_str).unwrap_or_default();
            let found = issues(&patched(field(0), &case[1]));
            let hit = found.iter().any(|i| i.path == field(2) && i.message.contains(field(3)));
            assert!(hit, "{case}: got {found:?}");
        }
    }

    #[test]
    fn valid_examples_pass() {
        for name in EXAMPLES {
            assert_eq!(issues(&example(name)), vec![], "{name}");
        }
        let still_valid = json!([
            ["Patient", {"/birthDate": "2024-02-29", "/deceasedBoolean": "DEL", "/deceasedDateTime": "2024-02"}],
            ["Patient", {"/multipleBirthInteger": "DEL", "/multipleBirthBoolean": true,
                         "/photo": [{"url": "https://example.cn/p.jpg"}]}],
            ["Organization", {"/identifier": "DEL"}],
            ["Observation", {"/effectiveDateTime": "DEL", "/effectiveInstant": "2024-01-05T01:30:00.5Z"}],
            ["Observation", {"/valueQuantity": "DEL", "/valueTime": "23:59:59", "/partOf": [{"display": "CT"}]}],
            ["Observation", {"/valueQuantity/comparator": "<=", "/valueQuantity/value": 1.5e2}],
            ["Practitioner", {"/extension": [{"url": "http://example.cn/a",
                                "valueUuid": "urn:uuid:a76d9bbf-f293-4fb7-ad4c-2851cac77162"}]}],
            ["Provenance", {"/occurredDateTime": "DEL", "/occurredPeriod": {"start": "2024"}}],
            ["Encounter", {"/subject": {"type": "Patient", "identifier": {"value": "310000"}}}]
        ]);
        for case in still_valid.as_array().expect("cases") {
            let v = patched(case[0].as_str().unwrap_or_default(), &case[1]);
            assert_eq!(issues(&v), vec![], "{case}");
        }
    }

    #[test]
    fn tables_cover_supported_types() {
        let names: Vec<&str> = RESOURCES.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, SUPPORTED);
    }

    #[test]
    fn references_are_returned() {
        let at = |name: &str, path: &str| {
            let refs = validate(&example(name)).unwrap_or_default();
            refs.into_iter()
                .find(|r| r.path == path)
                .map(|r| format!("{}/{}", r.resource_type, r.id))
        };
        assert_eq!(
            at("Observation", "Observation.subject").as_deref(),
            Some("Patient/pat-001")
        );
        assert_eq!(validate(&example("Observation")).map(|r| r.len()), Ok(3));
        assert_eq!(
            at("DiagnosticReport", "DiagnosticReport.result[1]").as_deref(),
            Some("Observation/obs-wbc")
        );
        assert_eq!(
            at("ImagingStudy", "ImagingStudy.series[0].performer[0].actor").as_deref(),
            Some("Practitioner/prac-001")
        );
        let data = at("ConsentRegional", "Consent.provision.data[0].reference");
        assert_eq!(data.as_deref(), Some("DiagnosticReport/dr-001"));
        assert_eq!(at("ConsentRegional", "Consent.provision.actor[0].reference"), None);
        assert_eq!(
            at("Consent", "Consent.provision.actor[0].reference").as_deref(),
            Some("Organization/org-001")
        );
    }

    #[test]
    fn top_level_shape() {
        let first = |v: Value| issues(&v).first().map(|i| format!("{}: {}", i.path, i.message));
        assert_eq!(first(json!([1])).as_deref(), Some(": a resource must be a JSON object"));
        let group = first(json!({"resourceType": "Group"}));
        assert_eq!(
            group.as_deref(),
            Some("resourceType: unknown or unsupported resource type 'Group'")
        );
        assert_eq!(
            first(json!({"id": "x"})).as_deref(),
            Some("resourceType: unknown or unsupported resource type ''")
        );
        assert_eq!(issues(&json!({"resourceType": 5})).len(), 1);
        assert_eq!(issues(&json!(null)).len(), 1);
    }

    #[test]
    fn required_and_unknown_elements() {
        assert_refused(json!([
            ["Observation", {"/code": "DEL"}, "Observation.code", "required element missing"],
            ["Observation", {"/status": "DEL"}, "Observation.status", "required element missing"],
            ["Encounter", {"/class": "DEL"}, "Encounter.class", "required element missing"],
            ["Consent", {"/category": "DEL"}, "Consent.category", "required element missing"],
            ["Provenance", {"/agent/0": {"role": [{"text": "录入"}]}}, "Provenance.agent[0].who", "required"],
            ["ImagingStudy", {"/series/0/instance/1": {"uid": "1.2"}}, "ImagingStudy.series[0].instance[1].sopClass",
             "required"],
            ["Observation", {"/note/0/text": "DEL"}, "Observation.note[0].text", "required element missing"],
            ["Patient", {"/link/0/type": "DEL"}, "Patient.link[0].type", "required element missing"],
            ["Patient", {"/foo": 1}, "Patient.foo", "unknown element"],
            ["Patient", {"/_birthDate": {"id": "a"}}, "Patient._birthDate", "unknown element"],
            ["Organization", {"/endpoint": [{"display": "PACS"}]}, "Organization.endpoint", "unknown element"],
            ["Observation", {"/valueSampledData": {"dimensions": 1}}, "Observation.valueSampledData", "unknown"],
            ["Patient", {"/name/0/nickname": "伟伟"}, "Patient.name[0].nickname", "unknown element"],
            ["Patient", {"/deceasedString": "yes"}, "Patient.deceasedString", "unknown element"],
            ["Observation", {"/referenceRange/0/low/comparator": "<"}, "Observation.referenceRange[0].low.comparator",
             "unknown element"],
            ["Patient", {"/contained": [{"resourceType": "Organization", "id": "o1", "name": "x"}]},
             "Patient.contained", "contained resources are not supported"],
            ["Patient", {"/modifierExtension": [{"url": "http://example.cn/x", "valueBoolean": true}]},
             "Patient.modifierExtension", "modifier extensions are not supported"],
            ["Patient", {"/contact/0/modifierExtension": [{"url": "http://example.cn/x", "valueBoolean": true}]},
             "Patient.contact[0].modifierExtension", "modifier extensions are not supported"]
        ]));
    }

    #[test]
    fn shapes_cardinality_and_choices() {
        assert_refused(json!([
            ["Patient", {"/gender": ["male"]}, "Patient.gender", "max cardinality 1"],
            ["Observation", {"/subject": [{"reference": "Patient/pat-001"}]}, "Observation.subject", "max cardinality"],
            ["Patient", {"/name": {"family": "张"}}, "Patient.name", "an array is required"],
            ["Patient", {"/identifier": [[{"value": "1"}]]}, "Patient.identifier[0]", "nested arrays"],
            ["Observation", {"/code": "718-7"}, "Observation.code", "expected a JSON object"],
            ["Patient", {"/name/0/family": ""}, "Patient.name[0].family", "empty strings are not allowed"],
            ["Patient", {"/birthDate": null}, "Patient.birthDate", "null is not allowed"],
            ["Patient", {"/name": [null]}, "Patient.name[0]", "null is not allowed"],
            ["Patient", {"/identifier": []}, "Patient.identifier", "empty arrays are not allowed"],
            ["Patient", {"/maritalStatus": {}}, "Patient.maritalStatus", "empty objects are not allowed"],
            ["Patient", {"/deceasedDateTime": "2024-01-01"}, "Patient.deceased[x]", "only one of deceased[x]"],
            ["Consent", {"/sourceReference": {"reference": "Consent/c0"}}, "Consent.source[x]", "only one"],
            ["Observation", {"/valueString": "正常"}, "Observation.value[x]", "only one of value[x]"]
        ]));
    }

    #[test]
    fn primitive_values() {
        assert_refused(json!([
            ["Patient", {"/birthDate": "2023-02-29"}, "Patient.birthDate", "'2023-02-29' is not a valid date"],
            ["Patient", {"/birthDate": "1990-3-7"}, "Patient.birthDate", "not a valid date"],
            ["Observation", {"/effectiveDateTime": "2024-01-05T09:30:00"}, "Observation.effectiveDateTime",
             "not a valid dateTime"],
            ["Observation", {"/issued": "2024-01-05"}, "Observation.issued", "not a valid instant"],
            ["Observation", {"/valueQuantity": "DEL", "/valueTime": "25:00:00"}, "Observation.valueTime", "time"],
            ["ImagingStudy", {"/numberOfSeries": -1}, "ImagingStudy.numberOfSeries", "out of range for unsignedInt"],
            ["ImagingStudy", {"/numberOfSeries": 1.5}, "ImagingStudy.numberOfSeries", "expected a JSON integer"],
            ["Patient", {"/multipleBirthInteger": 3_000_000_000_i64}, "Patient.multipleBirthInteger", "out of range"],
            ["Patient", {"/telecom/0/rank": 0}, "Patient.telecom[0].rank", "out of range for positiveInt"],
            ["Patient", {"/active": "true"}, "Patient.active", "expected a JSON boolean"],
            ["Observation", {"/valueQuantity/value": "135"}, "Observation.valueQuantity.value", "JSON number"],
            ["Observation", {"/code/coding/0/code": "718-7 "}, "Observation.code.coding[0].code", "not a valid code"],
            ["Observation", {"/code/coding/0/system": "http://loinc .org"}, "Observation.code.coding[0].system",
             "not a valid uri"],
            ["ImagingStudy", {"/series/0/uid": "1.2.840_1"}, "ImagingStudy.series[0].uid", "not a valid id"],
            ["DiagnosticReport", {"/presentedForm/0/data": "JVBER"}, "DiagnosticReport.presentedForm[0].data",
             "not a valid base64Binary"],
            ["Patient", {"/text/div": "<p>张伟</p>"}, "Patient.text.div", "must start with <div"],
            ["Patient", {"/text/div": "<div><SCRIPT>alert(1)</SCRIPT></div>"}, "Patient.text.div", "<script>"],
            ["Practitioner", {"/extension": [{"url": "http://example.cn/c", "valueOid": "2.16.156"}]},
             "Practitioner.extension[0].valueOid", "not a valid oid"]
        ]));
    }

    #[test]
    fn value_sets() {
        assert_refused(json!([
            ["Patient", {"/gender": "M"}, "Patient.gender", "'M' is not one of male|female|other|unknown"],
            ["Observation", {"/status": "done"}, "Observation.status", "is not one of registered|preliminary"],
            ["Encounter", {"/statusHistory/0/status": "done"}, "Encounter.statusHistory[0].status", "is not one of"],
            ["Patient", {"/telecom/0/system": "wechat"}, "Patient.telecom[0].system", "is not one of phone|fax"],
            ["Patient", {"/link/0/type": "see-also"}, "Patient.link[0].type", "is not one of replaced-by"],
            ["Observation", {"/valueQuantity/comparator": "="}, "Observation.valueQuantity.comparator", "<|<=|>=|>"],
            ["Consent", {"/provision/type": "allow"}, "Consent.provision.type", "is not one of deny|permit"],
            ["Provenance", {"/entity/0/role": "copy"}, "Provenance.entity[0].role", "is not one of derivation"]
        ]));
    }

    #[test]
    fn references() {
        let relative = "references must be relative, Type/id";
        let malformed = "is not a valid reference, expected Type/id";
        assert_refused(json!([
            ["Observation", {"/subject": {"reference": "http://example.cn/fhir/Patient/1"}},
             "Observation.subject.reference", relative],
            ["Observation", {"/subject": {"reference": "urn:uuid:a76d9bbf-f293-4fb7-ad4c-2851cac77162"}},
             "Observation.subject.reference", relative],
            ["Observation", {"/subject": {"reference": "#p1"}}, "Observation.subject.reference", relative],
            ["Observation", {"/subject": {"reference": "Patient"}}, "Observation.subject.reference", malformed],
            ["Observation", {"/subject": {"reference": "Patient/a b"}}, "Observation.subject.reference", malformed],
            ["Observation", {"/subject": {"reference": "Patient/1/_history/2"}}, "Observation.subject.reference",
             malformed],
            ["Observation", {"/subject": {"id": "r1"}}, "Observation.subject", "a reference needs reference"],
            ["Observation", {"/subject": {"reference": "Group/g1"}}, "Observation.subject.reference",
             "reference to Group is not supported here, expected Patient"],
            ["Observation", {"/subject": {"reference": "Organization/org-001"}}, "Observation.subject.reference",
             "reference to Organization is not supported here, expected Patient"],
            ["Observation", {"/subject": {"reference": "Patient/pat-001", "type": "Practitioner"}},
             "Observation.subject.type", "reference to Practitioner is not supported here"],
            ["Observation", {"/performer/0": {"reference": "Patient/pat-001", "type": "Practitioner"}},
             "Observation.performer[0].type", "type 'Practitioner' does not match reference 'Patient/pat-001'"],
            ["Observation", {"/subject": {"type": "Group", "identifier": {"value": "1"}}}, "Observation.subject.type",
             "reference to Group is not supported here"],
            ["Provenance", {"/target": [{"reference": "Device/d1"}]}, "Provenance.target[0].reference",
             "expected Patient|Organization|Practitioner|Encounter"],
            ["Patient", {"/identifier/0/assigner": {"reference": "Patient/p1"}},
             "Patient.identifier[0].assigner.reference",
             "expected Organization"]
        ]));
    }

    #[test]
    fn invariants() {
        assert_refused(json!([
            ["Consent", {"/policy": "DEL"}, "Consent", "ppc-1"],
            ["Organization", {"/identifier": "DEL", "/name": "DEL"}, "Organization", "org-1"],
            ["Observation", {"/dataAbsentReason": {"text": "溶血"}}, "Observation.dataAbsentReason", "obs-6"],
            ["BloodPressure", {"/component/1/valueQuantity": {"value": 80}},
             "Observation.component[1].dataAbsentReason",
             "obs-6"],
            ["Observation", {"/referenceRange/0": {"appliesTo": [{"text": "成人"}]}}, "Observation.referenceRange[0]",
             "obs-3"],
            ["Patient", {"/extension/0/valueString": "CN"}, "Patient.extension[0]", "ext-1"],
            ["Patient", {"/extension/0": {"url": "http://example.cn/x"}}, "Patient.extension[0]", "ext-1"],
            ["Observation", {"/valueQuantity/system": "DEL"}, "Observation.valueQuantity", "qty-3"],
            ["Patient", {"/telecom": [{"value": "13800138000"}]}, "Patient.telecom[0]", "cpt-2"],
            ["Patient", {"/contact/0": {"gender": "female"}}, "Patient.contact[0]", "pat-1"],
            ["DiagnosticReport", {"/presentedForm": [{"data": "YQ=="}]}, "DiagnosticReport.presentedForm[0]", "att-1"]
        ]));
    }

    #[test]
    fn primitive_formats() {
        let ok = |p: Prim, s: &str| check_str(p, s).is_none();
        assert!(ok(Prim::Id, "1.2.840.113619.2.55.3") && !ok(Prim::Id, "a_b") && !ok(Prim::Id, &"a".repeat(65)));
        assert!(ok(Prim::Code, "a b") && !ok(Prim::Code, " a") && !ok(Prim::Code, "a  b") && !ok(Prim::Code, "a\t"));
        assert!(ok(Prim::Oid, "urn:oid:2.16.156") && !ok(Prim::Oid, "urn:oid:3.1") && !ok(Prim::Oid, "urn:oid:2.01"));
        assert!(ok(Prim::Uuid, "urn:uuid:a76d9bbf-f293-4fb7-ad4c-2851cac77162"));
        assert!(!ok(Prim::Uuid, "urn:uuid:A76D9BBF-F293-4FB7-AD4C-2851CAC77162"));
        assert!(ok(Prim::Date, "2024") && ok(Prim::Date, "2024-02") && !ok(Prim::Date, "0000"));
        assert!(ok(Prim::Date, "2000-02-29") && !ok(Prim::Date, "1900-02-29") && !ok(Prim::Date, "2024-04-31"));
        assert!(!ok(Prim::Date, "2024-13") && !ok(Prim::Date, "2024-01-01T00:00:00Z"));
        assert!(ok(Prim::DateTime, "2024-01-05T09:30:00.5-05:00") && ok(Prim::DateTime, "2024-01"));
        assert!(ok(Prim::DateTime, "2024-01-05T09:30:00+14:00") && !ok(Prim::DateTime, "2024-01-05T09:30:00+14:30"));
        assert!(!ok(Prim::DateTime, "2024-01-05T09:30Z") && !ok(Prim::DateTime, "2024-01T09:30:00Z"));
        assert!(ok(Prim::Instant, "2024-01-05T09:30:00Z") && !ok(Prim::Instant, "2024-01-05T09:30:00"));
        assert!(ok(Prim::Time, "23:59:60.123") && !ok(Prim::Time, "12:00") && !ok(Prim::Time, "12:00:00Z"));
        assert!(ok(Prim::Base64Binary, "YQ==") && ok(Prim::Base64Binary, "YWJj\nZGVm"));
        assert!(!ok(Prim::Base64Binary, "YQ=a") && !ok(Prim::Base64Binary, "Y===") && !ok(Prim::Base64Binary, "ab!d"));
        assert!(ok(Prim::String, "  ") && !ok(Prim::String, &"x".repeat(MAX_STRING + 1)));
        assert_eq!(
            (Prim::Base64Binary.name(), Prim::DateTime.name()),
            ("base64Binary".into(), "dateTime".into())
        );
    }

    #[test]
    fn issues_are_capped_and_nesting_is_bounded() {
        let mut v = example("Patient");
        for i in 0..120 {
            v[format!("x{i}")] = json!(i);
        }
        assert_eq!(issues(&v).len(), MAX_ISSUES);
        let mut ext = json!({"url": "http://example.cn/leaf", "valueBoolean": true});
        for _ in 0..200 {
            ext = json!({"url": "http://example.cn/node", "extension": [ext]});
        }
        let found = issues(&patched("Patient", &json!({"/extension": [ext]})));
        assert!(found.len() == 1 && found.iter().all(|i| i.message.contains("too deeply")));
    }
}
