//! [`IeValue`] for the grouped IEs. Children are emitted in the order of the
//! spec's tables, then the children not modelled (`unknown`) as they came.
//! Errors follow [`super::children`]: the innermost IE at fault is named.

use super::children::{first, one_or_more, push, put_all, put_opt, put_raw, required, walk};
use super::grouped::*;
use super::simple::*;
use super::types;
use super::{begin, finish, IeError, IeValue};

impl IeValue for Pdi {
    const TYPE: u16 = types::PDI;
    fn parse(value: &[u8]) -> Result<Self, IeError> {
        let (mut si, mut f_teid, mut ni, mut ue_ip) = (None, None, None, None);
        let (mut sdf_filters, mut application_id, mut qfis, mut interface_type) =
            (Vec::new(), None, Vec::new(), None);
        let unknown = walk(value, |ie| match ie.ie_type {
            types::SOURCE_INTERFACE => first(&mut si, ie),
            types::F_TEID => first(&mut f_teid, ie),
            types::NETWORK_INSTANCE => first(&mut ni, ie),
            types::UE_IP_ADDRESS => first(&mut ue_ip, ie),
            types::SDF_FILTER => push(&mut sdf_filters, ie),
            types::APPLICATION_ID => first(&mut application_id, ie),
            types::QFI => push(&mut qfis, ie),
            types::THREE_GPP_INTERFACE_TYPE => first(&mut interface_type, ie),
            _ => Ok(false),
        })?;
        Ok(Pdi {
            source_interface: required(si, types::SOURCE_INTERFACE)?,
            f_teid,
            network_instance: ni,
            ue_ip_address: ue_ip,
            sdf_filters,
            application_id,
            qfis,
            interface_type,
            unknown,
        })
    }
    fn emit_value(&self, out: &mut Vec<u8>) {
        self.source_interface.emit(out);
        put_opt(out, &self.f_teid);
        put_opt(out, &self.network_instance);
        put_opt(out, &self.ue_ip_address);
        put_all(out, &self.sdf_filters);
        put_opt(out, &self.application_id);
        put_all(out, &self.qfis);
        put_opt(out, &self.interface_type);
        put_raw(out, &self.unknown);
    }
}

impl IeValue for CreatePdr {
    const TYPE: u16 = types::CREATE_PDR;
    fn parse(value: &[u8]) -> Result<Self, IeError> {
        let (mut pdr_id, mut precedence, mut pdi, mut ohr, mut far_id) =
            (None, None, None, None, None);
        let (mut urr_ids, mut qer_ids, mut rules) = (Vec::new(), Vec::new(), Vec::new());
        let unknown = walk(value, |ie| match ie.ie_type {
            types::PDR_ID => first(&mut pdr_id, ie),
            types::PRECEDENCE => first(&mut precedence, ie),
            types::PDI => first(&mut pdi, ie),
            types::OUTER_HEADER_REMOVAL => first(&mut ohr, ie),
            types::FAR_ID => first(&mut far_id, ie),
            types::URR_ID => push(&mut urr_ids, ie),
            types::QER_ID => push(&mut qer_ids, ie),
            types::ACTIVATE_PREDEFINED_RULES => push(&mut rules, ie),
            _ => Ok(false),
        })?;
        Ok(CreatePdr {
            pdr_id: required(pdr_id, types::PDR_ID)?,
            precedence: required(precedence, types::PRECEDENCE)?,
            pdi: required(pdi, types::PDI)?,
            outer_header_removal: ohr,
            far_id,
            urr_ids,
            qer_ids,
            activate_predefined_rules: rules,
            unknown,
        })
    }
    fn emit_value(&self, out: &mut Vec<u8>) {
        self.pdr_id.emit(out);
        self.precedence.emit(out);
        self.pdi.emit(out);
        put_opt(out, &self.outer_header_removal);
        put_opt(out, &self.far_id);
        put_all(out, &self.urr_ids);
        put_all(out, &self.qer_ids);
        put_all(out, &self.activate_predefined_rules);
        put_raw(out, &self.unknown);
    }
}

impl IeValue for ForwardingParameters {
    const TYPE: u16 = types::FORWARDING_PARAMETERS;
    fn parse(value: &[u8]) -> Result<Self, IeError> {
        let (mut di, mut ni, mut ohc, mut it) = (None, None, None, None);
        let unknown = walk(value, |ie| match ie.ie_type {
            types::DESTINATION_INTERFACE => first(&mut di, ie),
            types::NETWORK_INSTANCE => first(&mut ni, ie),
            types::OUTER_HEADER_CREATION => first(&mut ohc, ie),
            types::THREE_GPP_INTERFACE_TYPE => first(&mut it, ie),
            _ => Ok(false),
        })?;
        Ok(ForwardingParameters {
            destination_interface: required(di, types::DESTINATION_INTERFACE)?,
            network_instance: ni,
            outer_header_creation: ohc,
            interface_type: it,
            unknown,
        })
    }
    fn emit_value(&self, out: &mut Vec<u8>) {
        self.destination_interface.emit(out);
        put_opt(out, &self.network_instance);
        put_opt(out, &self.outer_header_creation);
        put_opt(out, &self.interface_type);
        put_raw(out, &self.unknown);
    }
}

impl IeValue for CreateFar {
    const TYPE: u16 = types::CREATE_FAR;
    fn parse(value: &[u8]) -> Result<Self, IeError> {
        let (mut far_id, mut aa, mut fp, mut bar_id) = (None, None, None, None);
        let unknown = walk(value, |ie| match ie.ie_type {
            types::FAR_ID => first(&mut far_id, ie),
            types::APPLY_ACTION => first(&mut aa, ie),
            types::FORWARDING_PARAMETERS => first(&mut fp, ie),
            types::BAR_ID => first(&mut bar_id, ie),
            _ => Ok(false),
        })?;
        Ok(CreateFar {
            far_id: required(far_id, types::FAR_ID)?,
            apply_action: required(aa, types::APPLY_ACTION)?,
            forwarding_parameters: fp,
            bar_id,
            unknown,
        })
    }
    /// Duplicating Parameters (in `unknown`) belong between the Forwarding
    /// Parameters and the BAR ID; they come after, which any receiver accepts.
    fn emit_value(&self, out: &mut Vec<u8>) {
        self.far_id.emit(out);
        self.apply_action.emit(out);
        put_opt(out, &self.forwarding_parameters);
        put_opt(out, &self.bar_id);
        put_raw(out, &self.unknown);
    }
}

impl IeValue for CreateUrr {
    const TYPE: u16 = types::CREATE_URR;
    fn parse(value: &[u8]) -> Result<Self, IeError> {
        let (mut urr_id, mut mm, mut rt, mut mp) = (None, None, None, None);
        let (mut vt, mut vq, mut tt, mut tq) = (None, None, None, None);
        let unknown = walk(value, |ie| match ie.ie_type {
            types::URR_ID => first(&mut urr_id, ie),
            types::MEASUREMENT_METHOD => first(&mut mm, ie),
            types::REPORTING_TRIGGERS => first(&mut rt, ie),
            types::MEASUREMENT_PERIOD => first(&mut mp, ie),
            types::VOLUME_THRESHOLD => first(&mut vt, ie),
            types::VOLUME_QUOTA => first(&mut vq, ie),
            types::TIME_THRESHOLD => first(&mut tt, ie),
            types::TIME_QUOTA => first(&mut tq, ie),
            _ => Ok(false),
        })?;
        Ok(CreateUrr {
            urr_id: required(urr_id, types::URR_ID)?,
            measurement_method: required(mm, types::MEASUREMENT_METHOD)?,
            reporting_triggers: required(rt, types::REPORTING_TRIGGERS)?,
            measurement_period: mp,
            volume_threshold: vt,
            volume_quota: vq,
            time_threshold: tt,
            time_quota: tq,
            unknown,
        })
    }
    fn emit_value(&self, out: &mut Vec<u8>) {
        self.urr_id.emit(out);
        self.measurement_method.emit(out);
        self.reporting_triggers.emit(out);
        put_opt(out, &self.measurement_period);
        put_opt(out, &self.volume_threshold);
        put_opt(out, &self.volume_quota);
        put_opt(out, &self.time_threshold);
        put_opt(out, &self.time_quota);
        put_raw(out, &self.unknown);
    }
}

impl IeValue for CreateQer {
    const TYPE: u16 = types::CREATE_QER;
    fn parse(value: &[u8]) -> Result<Self, IeError> {
        let (mut qer_id, mut corr, mut gate, mut mbr) = (None, None, None, None);
        let (mut gbr, mut qfi, mut rqi) = (None, None, None);
        let unknown = walk(value, |ie| match ie.ie_type {
            types::QER_ID => first(&mut qer_id, ie),
            types::QER_CORRELATION_ID => first(&mut corr, ie),
            types::GATE_STATUS => first(&mut gate, ie),
            types::MBR => first(&mut mbr, ie),
            types::GBR => first(&mut gbr, ie),
            types::QFI => first(&mut qfi, ie),
            types::RQI => first(&mut rqi, ie),
            _ => Ok(false),
        })?;
        Ok(CreateQer {
            qer_id: required(qer_id, types::QER_ID)?,
            qer_correlation_id: corr,
            gate_status: required(gate, types::GATE_STATUS)?,
            mbr,
            gbr,
            qfi,
            rqi,
            unknown,
        })
    }
    fn emit_value(&self, out: &mut Vec<u8>) {
        self.qer_id.emit(out);
        put_opt(out, &self.qer_correlation_id);
        self.gate_status.emit(out);
        put_opt(out, &self.mbr);
        put_opt(out, &self.gbr);
        put_opt(out, &self.qfi);
        put_opt(out, &self.rqi);
        put_raw(out, &self.unknown);
    }
}

impl IeValue for CreatedPdr {
    const TYPE: u16 = types::CREATED_PDR;
    fn parse(value: &[u8]) -> Result<Self, IeError> {
        let (mut pdr_id, mut f_teid, mut ue_ip) = (None, None, None);
        let unknown = walk(value, |ie| match ie.ie_type {
            types::PDR_ID => first(&mut pdr_id, ie),
            types::F_TEID => first(&mut f_teid, ie),
            types::UE_IP_ADDRESS => first(&mut ue_ip, ie),
            _ => Ok(false),
        })?;
        Ok(CreatedPdr {
            pdr_id: required(pdr_id, types::PDR_ID)?,
            local_f_teid: f_teid,
            ue_ip_address: ue_ip,
            unknown,
        })
    }
    fn emit_value(&self, out: &mut Vec<u8>) {
        self.pdr_id.emit(out);
        put_opt(out, &self.local_f_teid);
        put_opt(out, &self.ue_ip_address);
        put_raw(out, &self.unknown);
    }
}

impl IeValue for UpdatePdr {
    const TYPE: u16 = types::UPDATE_PDR;
    fn parse(value: &[u8]) -> Result<Self, IeError> {
        let (mut pdr_id, mut ohr, mut precedence, mut pdi, mut far_id) =
            (None, None, None, None, None);
        let (mut urr_ids, mut qer_ids, mut activate, mut deactivate) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let unknown = walk(value, |ie| match ie.ie_type {
            types::PDR_ID => first(&mut pdr_id, ie),
            types::OUTER_HEADER_REMOVAL => first(&mut ohr, ie),
            types::PRECEDENCE => first(&mut precedence, ie),
            types::PDI => first(&mut pdi, ie),
            types::FAR_ID => first(&mut far_id, ie),
            types::URR_ID => push(&mut urr_ids, ie),
            types::QER_ID => push(&mut qer_ids, ie),
            types::ACTIVATE_PREDEFINED_RULES => push(&mut activate, ie),
            types::DEACTIVATE_PREDEFINED_RULES => push(&mut deactivate, ie),
            _ => Ok(false),
        })?;
        Ok(UpdatePdr {
            pdr_id: required(pdr_id, types::PDR_ID)?,
            outer_header_removal: ohr,
            precedence,
            pdi,
            far_id,
            urr_ids,
            qer_ids,
            activate_predefined_rules: activate,
            deactivate_predefined_rules: deactivate,
            unknown,
        })
    }
    fn emit_value(&self, out: &mut Vec<u8>) {
        self.pdr_id.emit(out);
        put_opt(out, &self.outer_header_removal);
        put_opt(out, &self.precedence);
        put_opt(out, &self.pdi);
        put_opt(out, &self.far_id);
        put_all(out, &self.urr_ids);
        put_all(out, &self.qer_ids);
        put_all(out, &self.activate_predefined_rules);
        put_all(out, &self.deactivate_predefined_rules);
        put_raw(out, &self.unknown);
    }
}

impl IeValue for UpdateForwardingParameters {
    const TYPE: u16 = types::UPDATE_FORWARDING_PARAMETERS;
    fn parse(value: &[u8]) -> Result<Self, IeError> {
        let (mut di, mut ni, mut ohc, mut flags, mut it) = (None, None, None, None, None);
        let unknown = walk(value, |ie| match ie.ie_type {
            types::DESTINATION_INTERFACE => first(&mut di, ie),
            types::NETWORK_INSTANCE => first(&mut ni, ie),
            types::OUTER_HEADER_CREATION => first(&mut ohc, ie),
            types::PFCPSMREQ_FLAGS => first(&mut flags, ie),
            types::THREE_GPP_INTERFACE_TYPE => first(&mut it, ie),
            _ => Ok(false),
        })?;
        Ok(UpdateForwardingParameters {
            destination_interface: di,
            network_instance: ni,
            outer_header_creation: ohc,
            pfcpsm_req_flags: flags,
            interface_type: it,
            unknown,
        })
    }
    fn emit_value(&self, out: &mut Vec<u8>) {
        put_opt(out, &self.destination_interface);
        put_opt(out, &self.network_instance);
        put_opt(out, &self.outer_header_creation);
        put_opt(out, &self.pfcpsm_req_flags);
        put_opt(out, &self.interface_type);
        put_raw(out, &self.unknown);
    }
}

impl IeValue for UpdateFar {
    const TYPE: u16 = types::UPDATE_FAR;
    fn parse(value: &[u8]) -> Result<Self, IeError> {
        let (mut far_id, mut aa, mut ufp, mut bar_id) = (None, None, None, None);
        let unknown = walk(value, |ie| match ie.ie_type {
            types::FAR_ID => first(&mut far_id, ie),
            types::APPLY_ACTION => first(&mut aa, ie),
            types::UPDATE_FORWARDING_PARAMETERS => first(&mut ufp, ie),
            types::BAR_ID => first(&mut bar_id, ie),
            _ => Ok(false),
        })?;
        Ok(UpdateFar {
            far_id: required(far_id, types::FAR_ID)?,
            apply_action: aa,
            update_forwarding_parameters: ufp,
            bar_id,
            unknown,
        })
    }
    fn emit_value(&self, out: &mut Vec<u8>) {
        self.far_id.emit(out);
        put_opt(out, &self.apply_action);
        put_opt(out, &self.update_forwarding_parameters);
        put_opt(out, &self.bar_id);
        put_raw(out, &self.unknown);
    }
}

impl IeValue for UpdateUrr {
    const TYPE: u16 = types::UPDATE_URR;
    fn parse(value: &[u8]) -> Result<Self, IeError> {
        let (mut urr_id, mut mm, mut rt, mut mp) = (None, None, None, None);
        let (mut vt, mut vq, mut tt, mut tq) = (None, None, None, None);
        let unknown = walk(value, |ie| match ie.ie_type {
            types::URR_ID => first(&mut urr_id, ie),
            types::MEASUREMENT_METHOD => first(&mut mm, ie),
            types::REPORTING_TRIGGERS => first(&mut rt, ie),
            types::MEASUREMENT_PERIOD => first(&mut mp, ie),
            types::VOLUME_THRESHOLD => first(&mut vt, ie),
            types::VOLUME_QUOTA => first(&mut vq, ie),
            types::TIME_THRESHOLD => first(&mut tt, ie),
            types::TIME_QUOTA => first(&mut tq, ie),
            _ => Ok(false),
        })?;
        Ok(UpdateUrr {
            urr_id: required(urr_id, types::URR_ID)?,
            measurement_method: mm,
            reporting_triggers: rt,
            measurement_period: mp,
            volume_threshold: vt,
            volume_quota: vq,
            time_threshold: tt,
            time_quota: tq,
            unknown,
        })
    }
    fn emit_value(&self, out: &mut Vec<u8>) {
        self.urr_id.emit(out);
        put_opt(out, &self.measurement_method);
        put_opt(out, &self.reporting_triggers);
        put_opt(out, &self.measurement_period);
        put_opt(out, &self.volume_threshold);
        put_opt(out, &self.volume_quota);
        put_opt(out, &self.time_threshold);
        put_opt(out, &self.time_quota);
        put_raw(out, &self.unknown);
    }
}

impl IeValue for UpdateQer {
    const TYPE: u16 = types::UPDATE_QER;
    fn parse(value: &[u8]) -> Result<Self, IeError> {
        let (mut qer_id, mut corr, mut gate, mut mbr) = (None, None, None, None);
        let (mut gbr, mut qfi, mut rqi) = (None, None, None);
        let unknown = walk(value, |ie| match ie.ie_type {
            types::QER_ID => first(&mut qer_id, ie),
            types::QER_CORRELATION_ID => first(&mut corr, ie),
            types::GATE_STATUS => first(&mut gate, ie),
            types::MBR => first(&mut mbr, ie),
            types::GBR => first(&mut gbr, ie),
            types::QFI => first(&mut qfi, ie),
            types::RQI => first(&mut rqi, ie),
            _ => Ok(false),
        })?;
        Ok(UpdateQer {
            qer_id: required(qer_id, types::QER_ID)?,
            qer_correlation_id: corr,
            gate_status: gate,
            mbr,
            gbr,
            qfi,
            rqi,
            unknown,
        })
    }
    fn emit_value(&self, out: &mut Vec<u8>) {
        self.qer_id.emit(out);
        put_opt(out, &self.qer_correlation_id);
        put_opt(out, &self.gate_status);
        put_opt(out, &self.mbr);
        put_opt(out, &self.gbr);
        put_opt(out, &self.qfi);
        put_opt(out, &self.rqi);
        put_raw(out, &self.unknown);
    }
}

/// A grouped IE made of one mandatory ID (Remove PDR/FAR/URR/QER, Query
/// URR): other children are dropped, the ID is always emitted.
macro_rules! id_group {
    ($($name:ident { $field:ident: $id:ident } = $ie:ident;)*) => {$(
        impl IeValue for $name {
            const TYPE: u16 = types::$ie;
            fn parse(value: &[u8]) -> Result<Self, IeError> {
                let mut id = None;
                walk(value, |ie| match ie.ie_type {
                    t if t == $id::TYPE => first(&mut id, ie),
                    _ => Ok(false),
                })?;
                Ok($name { $field: required(id, $id::TYPE)? })
            }
            fn emit_value(&self, out: &mut Vec<u8>) {
                self.$field.emit(out);
            }
        }
    )*};
}

id_group! {
    RemovePdr { pdr_id: PdrId } = REMOVE_PDR;
    RemoveFar { far_id: FarId } = REMOVE_FAR;
    RemoveUrr { urr_id: UrrId } = REMOVE_URR;
    RemoveQer { qer_id: QerId } = REMOVE_QER;
    QueryUrr { urr_id: UrrId } = QUERY_URR;
}

impl UsageReportIn {
    /// The IE type of a Usage Report in this message.
    pub fn ie_type(self) -> u16 {
        match self {
            UsageReportIn::Modification => types::USAGE_REPORT_MODIFICATION,
            UsageReportIn::Deletion => types::USAGE_REPORT_DELETION,
            UsageReportIn::Report => types::USAGE_REPORT_REPORT,
        }
    }
}

impl UsageReport {
    /// Parses the value of a Usage Report IE (any of types 78, 79, 80).
    pub fn parse(value: &[u8]) -> Result<UsageReport, IeError> {
        let (mut urr_id, mut seqn, mut trigger, mut start) = (None, None, None, None);
        let (mut end, mut volume, mut duration, mut first_pkt, mut last_pkt) =
            (None, None, None, None, None);
        let unknown = walk(value, |ie| match ie.ie_type {
            types::URR_ID => first(&mut urr_id, ie),
            types::UR_SEQN => first(&mut seqn, ie),
            types::USAGE_REPORT_TRIGGER => first(&mut trigger, ie),
            types::START_TIME => first(&mut start, ie),
            types::END_TIME => first(&mut end, ie),
            types::VOLUME_MEASUREMENT => first(&mut volume, ie),
            types::DURATION_MEASUREMENT => first(&mut duration, ie),
            types::TIME_OF_FIRST_PACKET => first(&mut first_pkt, ie),
            types::TIME_OF_LAST_PACKET => first(&mut last_pkt, ie),
            _ => Ok(false),
        })?;
        Ok(UsageReport {
            urr_id: required(urr_id, types::URR_ID)?,
            ur_seqn: required(seqn, types::UR_SEQN)?,
            usage_report_trigger: required(trigger, types::USAGE_REPORT_TRIGGER)?,
            start_time: start,
            end_time: end,
            volume_measurement: volume,
            duration_measurement: duration,
            time_of_first_packet: first_pkt,
            time_of_last_packet: last_pkt,
            unknown,
        })
    }

    /// Emits the whole IE (framing included) with the type `within` says.
    pub fn emit(&self, within: UsageReportIn, out: &mut Vec<u8>) {
        let start = begin(out, within.ie_type());
        self.urr_id.emit(out);
        self.ur_seqn.emit(out);
        self.usage_report_trigger.emit(out);
        put_opt(out, &self.start_time);
        put_opt(out, &self.end_time);
        put_opt(out, &self.volume_measurement);
        put_opt(out, &self.duration_measurement);
        put_opt(out, &self.time_of_first_packet);
        put_opt(out, &self.time_of_last_packet);
        put_raw(out, &self.unknown);
        finish(out, start);
    }
}

impl IeValue for LoadControlInformation {
    const TYPE: u16 = types::LOAD_CONTROL_INFORMATION;
    fn parse(value: &[u8]) -> Result<Self, IeError> {
        let (mut seq, mut metric) = (None, None);
        walk(value, |ie| match ie.ie_type {
            types::SEQUENCE_NUMBER => first(&mut seq, ie),
            types::METRIC => first(&mut metric, ie),
            _ => Ok(false),
        })?;
        Ok(LoadControlInformation {
            sequence_number: required(seq, types::SEQUENCE_NUMBER)?,
            metric: required(metric, types::METRIC)?,
        })
    }
    fn emit_value(&self, out: &mut Vec<u8>) {
        self.sequence_number.emit(out);
        self.metric.emit(out);
    }
}

impl IeValue for OverloadControlInformation {
    const TYPE: u16 = types::OVERLOAD_CONTROL_INFORMATION;
    fn parse(value: &[u8]) -> Result<Self, IeError> {
        let (mut seq, mut metric, mut timer, mut flags) = (None, None, None, None);
        walk(value, |ie| match ie.ie_type {
            types::SEQUENCE_NUMBER => first(&mut seq, ie),
            types::METRIC => first(&mut metric, ie),
            types::TIMER => first(&mut timer, ie),
            types::OCI_FLAGS => first(&mut flags, ie),
            _ => Ok(false),
        })?;
        Ok(OverloadControlInformation {
            sequence_number: required(seq, types::SEQUENCE_NUMBER)?,
            metric: required(metric, types::METRIC)?,
            timer: required(timer, types::TIMER)?,
            oci_flags: flags,
        })
    }
    fn emit_value(&self, out: &mut Vec<u8>) {
        self.sequence_number.emit(out);
        self.metric.emit(out);
        self.timer.emit(out);
        put_opt(out, &self.oci_flags);
    }
}

impl IeValue for UserPlanePathFailureReport {
    const TYPE: u16 = types::USER_PLANE_PATH_FAILURE_REPORT;
    fn parse(value: &[u8]) -> Result<Self, IeError> {
        let mut peers = Vec::new();
        walk(value, |ie| match ie.ie_type {
            types::REMOTE_GTP_U_PEER => push(&mut peers, ie),
            _ => Ok(false),
        })?;
        Ok(UserPlanePathFailureReport {
            remote_peers: one_or_more(peers, types::REMOTE_GTP_U_PEER)?,
        })
    }
    fn emit_value(&self, out: &mut Vec<u8>) {
        put_all(out, &self.remote_peers);
    }
}
