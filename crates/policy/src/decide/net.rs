//! R-NET (one NIC, eth0, DHCP) and R-ACTIVATION (information for Windows).

use super::*;

/// R-NET (warnings only).
pub(super) fn check_net(cx: &mut Cx, g: &GuestFacts, family: Family, windows: bool) {
    cx.check(RuleId::Net);
    let nics: Vec<_> = g
        .nics
        .iter()
        .filter(|n| !n.name.trim().eq_ignore_ascii_case("lo"))
        .collect();
    let where_ = |n: &crate::facts::NicFacts| match &n.source {
        Some(s) => format!("{} ({})", clip(&n.name), clip(s)),
        None => clip(&n.name),
    };
    let fix = || fixes::network(family);
    if nics.len() > 1 {
        cx.warn(
            RuleId::Net,
            format!(
                "{} network interfaces are configured; the instance gets one NIC, {}",
                nics.len(),
                if windows {
                    "Local Area Connection"
                } else {
                    "eth0"
                }
            ),
            nics.iter().map(|n| where_(n)).collect(),
            fix(),
        );
    }
    let statics: Vec<String> = nics
        .iter()
        .filter(|n| n.static_ip)
        .map(|n| where_(n))
        .collect();
    if !statics.is_empty() {
        cx.warn(
            RuleId::Net,
            "a static IP address is configured; the instance's network configuration comes \
             from DHCP and the metadata service"
                .into(),
            statics,
            fix(),
        );
    }
    if !windows && !g.nic_renames.is_empty() {
        cx.warn(
            RuleId::Net,
            "a rule names network interfaces by MAC address (or gives one a name other than \
             eth0): the instance's NIC has a new MAC address, so it would not come up as eth0 \
             and its configuration would not apply"
                .into(),
            g.nic_renames.clone(),
            vec!["Remove the MAC-bound naming before exporting: delete \
                 /etc/udev/rules.d/70-persistent-net.rules, systemd .link files matching a \
                 MACAddress=, and netplan `match: {macaddress: …}` + `set-name:` entries"
                .into()],
        );
    }
    if !windows {
        let renamed: Vec<String> = nics
            .iter()
            .filter(|n| n.name.trim() != "eth0")
            .map(|n| where_(n))
            .collect();
        if !renamed.is_empty() {
            cx.warn(
                RuleId::Net,
                "a network interface other than eth0 is configured; the instance's NIC is eth0"
                    .into(),
                renamed,
                fix(),
            );
        }
    }
}

/// R-ACTIVATION (information).
pub(super) fn activation(cx: &mut Cx) {
    if cx.checked.contains(&RuleId::Activation) {
        return;
    }
    cx.info(
        RuleId::Activation,
        "imported Windows images get no Windows activation service; activate with your own \
         licence"
            .into(),
        vec!["Activate Windows with your own key/KMS after creating the instance".into()],
    );
}
