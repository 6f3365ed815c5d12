//! The typed result of profile processing: what a stack runs with.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A parsed PROFILE.TCPIP. Statements that are rejected by a message are absent; statements
/// outside the emulated subset are kept as [`GenericStatement`]s.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Profile {
    /// The IPCONFIG statements, merged in order.
    pub ipconfig: IpConfig,
    /// The GLOBALCONFIG statements, merged in order.
    pub global: GlobalConfig,
    /// The HOME list (static addresses and their link names).
    pub home: Vec<HomeEntry>,
    /// The INTERFACE statements (the LAN interfaces).
    pub interfaces: Vec<Interface>,
    /// The VIPADYNAMIC blocks, merged in order.
    pub vipa_dynamic: VipaDynamic,
    /// The IPSEC block, if any.
    pub ipsec: Option<IpSec>,
    /// Every other statement (DEVICE, LINK, PORT, START, BEGINROUTES, ...), as written.
    pub other: Vec<GenericStatement>,
}

/// A statement kept as its keyword and operands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenericStatement {
    /// The statement keyword in upper case (`PORT`, `DEVICE`, ...).
    pub keyword: String,
    /// The line of the keyword.
    pub line: u32,
    /// The operands as written, block end keyword included for block statements.
    pub operands: Vec<String>,
}

/// IPCONFIG: the IPv4 stack options the sysplex functions depend on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IpConfig {
    /// SYSPLEXROUTING: take part in sysplex routing (WLM weights for SD).
    pub sysplex_routing: bool,
    /// DYNAMICXCF: this stack's dynamic XCF address.
    pub dynamic_xcf: Option<DynamicXcf>,
    /// SOURCEVIPA: use a VIPA as the source address of outbound packets.
    pub source_vipa: bool,
    /// IPSECURITY: IP filtering and IPSec are active on this stack.
    pub ipsecurity: bool,
    /// The other IPCONFIG operands, as written.
    pub other: Vec<String>,
}

/// `DYNAMICXCF address mask cost`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DynamicXcf {
    /// The dynamic XCF address of this stack.
    pub address: Ipv4Addr,
    /// The subnet prefix length (from the mask or `/len`).
    pub prefix_len: u8,
    /// The cost metric of the generated EZAXCFnn links.
    pub cost: u8,
}

/// GLOBALCONFIG: the sysplex group and monitor options.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GlobalConfig {
    /// XCFGRPID: the TCP group suffix `tt` of the XCF group EZBTvvtt.
    pub xcf_group_id: Option<u8>,
    /// SYSPLEXMONITOR options.
    pub sysplex_monitor: SysplexMonitor,
    /// SYSPLEXWLMPOLL: seconds between WLM weight queries.
    pub sysplex_wlm_poll: Option<u16>,
    /// EXPLICITBINDPORTRANGE: the sysplex-wide ephemeral port range for explicit binds.
    pub explicit_bind_port_range: Option<PortBlock>,
    /// The other GLOBALCONFIG operands, as written.
    pub other: Vec<String>,
}

/// SYSPLEXMONITOR options (defaults: NORECOVERY NODELAYJOIN NOAUTOREJOIN TIMERSECS 60
/// NOMONINTERFACE NODYNROUTE).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SysplexMonitor {
    /// RECOVERY: leave the sysplex group when a problem is detected.
    pub recovery: bool,
    /// DELAYJOIN: join the group only once OMPROUTE is up.
    pub delay_join: bool,
    /// AUTOREJOIN: rejoin once the problem is gone.
    pub auto_rejoin: bool,
    /// TIMERSECS: the monitoring interval in seconds.
    pub timer_secs: u16,
    /// MONINTERFACE: monitor the status of the interfaces.
    pub mon_interface: bool,
    /// DYNROUTE: monitor dynamic routes over those interfaces.
    pub dyn_route: bool,
}

impl Default for SysplexMonitor {
    fn default() -> Self {
        Self {
            recovery: false,
            delay_join: false,
            auto_rejoin: false,
            timer_secs: 60,
            mon_interface: false,
            dyn_route: false,
        }
    }
}

/// A block of ports: `first count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortBlock {
    /// The first port.
    pub first: u16,
    /// How many ports.
    pub count: u16,
}

/// One HOME list entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HomeEntry {
    /// The home address.
    pub address: Ipv4Addr,
    /// The link name it belongs to.
    pub link: String,
    /// The line of the entry.
    pub line: u32,
}

/// `INTERFACE name DEFINE IPAQENET PORTNAME p IPADDR a/len ...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    /// The interface name.
    pub name: String,
    /// The interface type (`IPAQENET`, `IPAQIDIO`, ...).
    pub kind: String,
    /// PORTNAME: the OSA port name.
    pub port_name: Option<String>,
    /// IPADDR: the home address (IPv4, or IPv6 for IPAQENET6) and its prefix length.
    pub address: Option<(IpAddr, u8)>,
    /// The other operands, as written.
    pub other: Vec<String>,
    /// The line of the statement.
    pub line: u32,
}

/// The DVIPA configuration of the VIPADYNAMIC blocks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VipaDynamic {
    /// VIPADEFINE statements.
    pub defines: Vec<VipaDefine>,
    /// IPv6 VIPADEFINE statements (`intfname ipv6addr`).
    pub defines6: Vec<VipaDefine6>,
    /// VIPABACKUP statements.
    pub backups: Vec<VipaBackup>,
    /// VIPARANGE statements.
    pub ranges: Vec<VipaRange>,
    /// VIPADELETE statements.
    pub deletes: Vec<VipaDelete>,
    /// VIPADISTRIBUTE statements.
    pub distributes: Vec<VipaDistribute>,
    /// VIPAROUTE statements.
    pub routes: Vec<VipaRoute>,
    /// Other VIPADYNAMIC statements (VIPASMPARMS, ...), as written.
    pub other: Vec<GenericStatement>,
}

/// When a returning owner takes a DVIPA back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Moveable {
    /// MOVEABLE IMMEDIATE: at once, the old holder keeps its connections (Moving).
    Immediate,
    /// MOVEABLE WHENIDLE: only when the holder has no connections left.
    WhenIdle,
}

/// VIPADEFINE/VIPABACKUP tier options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tier {
    /// TIER1.
    Tier1,
    /// TIER2.
    Tier2,
}

/// `VIPADEFINE [TIER1|TIER2] [CPCSCOPE] [MOVEABLE IMMEDIATE|WHENIDLE] [SERVICEMGR] mask addr...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VipaDefine {
    /// The line of the statement.
    pub line: u32,
    /// Takeback mode (MOVEABLE IMMEDIATE is the default).
    pub moveable: Moveable,
    /// SERVICEMGR.
    pub service_mgr: bool,
    /// TIER1 or TIER2.
    pub tier: Option<Tier>,
    /// CPCSCOPE.
    pub cpc_scope: bool,
    /// The prefix length of the address mask.
    pub prefix_len: u8,
    /// The DVIPAs (addresses rejected by EZZ8307I are absent).
    pub addresses: Vec<Ipv4Addr>,
}

/// `VIPADEFINE [MOVEABLE IMMEDIATE] [SERVICEMGR] intfname ipv6addr` (IPv6 DVIPAs move
/// only IMMEDIATE).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VipaDefine6 {
    /// The line of the statement.
    pub line: u32,
    /// SERVICEMGR.
    pub service_mgr: bool,
    /// The DVIPA interface name.
    pub interface: String,
    /// The IPv6 DVIPA.
    pub address: Ipv6Addr,
}

/// `VIPABACKUP [rank] [MOVEABLE IMMEDIATE|WHENIDLE [SERVICEMGR] mask] addr...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VipaBackup {
    /// The line of the statement.
    pub line: u32,
    /// The rank, 1..=254 (default 1); the highest active rank takes over first.
    pub rank: u8,
    /// With MOVEABLE the backup activates the DVIPA at profile processing if it is
    /// active nowhere else.
    pub moveable: Option<Moveable>,
    /// SERVICEMGR.
    pub service_mgr: bool,
    /// The prefix length of the mask, if one was coded.
    pub prefix_len: Option<u8>,
    /// The DVIPAs backed up (addresses rejected by EZZ8307I are absent).
    pub addresses: Vec<Ipv4Addr>,
}

/// DEFINE or DELETE on VIPARANGE, VIPADISTRIBUTE and VIPAROUTE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// DEFINE (the default).
    Define,
    /// DELETE.
    Delete,
}

/// What a second bind or ioctl for a VIPARANGE DVIPA does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeMoveable {
    /// MOVEABLE NONDISRUPTIVE (the default): ownership moves, old connections stay.
    NonDisruptive,
    /// MOVEABLE DISRUPTIVE: a second bind fails, an ioctl breaks the old connections.
    Disruptive,
}

/// `VIPARANGE [DEFINE|DELETE] [MOVEABLE NONDISRUPTIVE|DISRUPTIVE] mask addr [SAF resname]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VipaRange {
    /// The line of the statement.
    pub line: u32,
    /// DEFINE or DELETE.
    pub change: Change,
    /// The range's moveable mode.
    pub moveable: RangeMoveable,
    /// The prefix length of the range.
    pub prefix_len: u8,
    /// The range's network address.
    pub address: Ipv4Addr,
    /// SAF resource name guarding creation.
    pub saf: Option<String>,
}

/// `VIPADELETE addr`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VipaDelete {
    /// The line of the statement.
    pub line: u32,
    /// The DVIPA to delete.
    pub address: Ipv4Addr,
}

/// `VIPAROUTE DEFINE|DELETE dynxcf target`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VipaRoute {
    /// The line of the statement.
    pub line: u32,
    /// DEFINE or DELETE.
    pub change: Change,
    /// The target stack's dynamic XCF address.
    pub xcf: Ipv4Addr,
    /// The target address to route (GRE) to.
    pub target: Ipv4Addr,
}

/// The Sysplex Distributor distribution method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DistMethod {
    /// BASEWLM (default): WLM system weights.
    BaseWlm {
        /// PROCTYPE CP n ZAAP n ZIIP n.
        proc_type: Option<ProcWeights>,
    },
    /// ROUNDROBIN.
    RoundRobin,
    /// SERVERWLM: per-server WLM weights.
    ServerWlm {
        /// PROCXCOST ZAAP n ZIIP n.
        proc_x_cost: Option<ProcWeights>,
        /// ILWEIGHTING 0..=3.
        il_weighting: Option<u8>,
    },
    /// WEIGHTEDACTIVE: WEIGHT per DESTIP.
    WeightedActive,
    /// HOTSTANDBY: one PREFERRED, ranked BACKUPs.
    HotStandby {
        /// AUTOSWITCHBACK (default yes).
        auto_switch_back: bool,
        /// HEALTHSWITCH (default yes).
        health_switch: bool,
    },
}

/// Processor weights of PROCTYPE (CP, zAAP, zIIP) or PROCXCOST (zAAP, zIIP; `cp` is 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcWeights {
    /// CP weight.
    pub cp: u8,
    /// zAAP weight or crossover cost.
    pub zaap: u8,
    /// zIIP weight or crossover cost.
    pub ziip: u8,
}

/// A distributed port or port range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortRange {
    /// First port.
    pub first: u16,
    /// Last port (equal to `first` for one port).
    pub last: u16,
}

/// The targets of a VIPADISTRIBUTE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destinations {
    /// DESTIP ALL: every stack in the sysplex with a ready listener.
    All,
    /// DESTIP with the listed dynamic XCF addresses.
    Listed(Vec<Target>),
}

/// HOTSTANDBY role of a target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerType {
    /// PREFERRED: gets all work while healthy.
    Preferred,
    /// BACKUP rank: the highest rank takes over.
    Backup(u8),
}

/// One DESTIP target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The target stack's dynamic XCF address.
    pub xcf: Ipv4Addr,
    /// WEIGHT (kept only for WEIGHTEDACTIVE).
    pub weight: Option<u8>,
    /// PREFERRED or BACKUP rank (HOTSTANDBY only).
    pub server_type: Option<ServerType>,
}

/// `VIPADISTRIBUTE [DEFINE|DELETE] options addr [PORT ...] DESTIP ...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VipaDistribute {
    /// The line of the statement.
    pub line: u32,
    /// DEFINE or DELETE.
    pub change: Change,
    /// SYSPLEXPORTS: ephemeral ports from the EZBEPORT structure.
    pub sysplex_ports: bool,
    /// TIMEDAFFINITY seconds.
    pub timed_affinity: Option<u32>,
    /// OPTLOCAL value.
    pub opt_local: Option<u8>,
    /// The distribution method.
    pub method: DistMethod,
    /// The distributed DVIPA.
    pub address: Ipv4Addr,
    /// The distributed ports (empty: all ports).
    pub ports: Vec<PortRange>,
    /// The targets.
    pub destinations: Destinations,
}

/// The IPSEC block: default IP filter rules and the DVIPSEC switch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IpSec {
    /// The line of the IPSEC keyword.
    pub line: u32,
    /// DVIPSEC: sysplex-wide security associations for DVIPAs.
    pub dvipsec: bool,
    /// DVLOCALFLTR: protect same-stack client to DVIPA traffic forwarded to another stack.
    pub dv_local_fltr: bool,
    /// LOGENABLE (true) or LOGDISABLE.
    pub log_enable: bool,
    /// LOGIMPLICIT (true) or NOLOGIMPLICIT.
    pub log_implicit: bool,
    /// The IPv4 default filter rules, in order.
    pub rules: Vec<IpSecRule>,
    /// Other rules (IPSEC6RULE, ...), as written.
    pub other: Vec<GenericStatement>,
}

/// An address selector of an IPSECRULE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddrMatch {
    /// `*`: any address.
    Any,
    /// `a` or `a/len`.
    Prefix(Ipv4Addr, u8),
}

/// The protocol of an IPSECRULE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleProtocol {
    /// `*`.
    Any,
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// ICMP.
    Icmp,
    /// OSPF.
    Ospf,
    /// A protocol number.
    Number(u8),
}

/// ROUTING of an IPSECRULE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Routing {
    /// LOCAL (the default): traffic to or from this stack.
    Local,
    /// ROUTED: traffic routed through this stack.
    Routed,
    /// EITHER.
    Either,
}

/// `IPSECRULE src dst [LOG|NOLOG] PROTOCOL p [SRCPORT n] [DESTPORT n] [ROUTING r]`: permit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpSecRule {
    /// The line of the rule.
    pub line: u32,
    /// Source selector.
    pub source: AddrMatch,
    /// Destination selector.
    pub destination: AddrMatch,
    /// LOG (true) or NOLOG.
    pub log: bool,
    /// The protocol.
    pub protocol: RuleProtocol,
    /// SRCPORT (TCP/UDP), `None` for any.
    pub source_port: Option<u16>,
    /// DESTPORT (TCP/UDP), `None` for any.
    pub destination_port: Option<u16>,
    /// ROUTING.
    pub routing: Routing,
}

impl IpSecRule {
    /// `IPSECRULE * * NOLOG PROTOCOL *`: permits every packet the SPD does not want protected
    /// (the default rule of labs and remote hosts).
    pub fn permit_all() -> Self {
        Self {
            line: 1,
            source: AddrMatch::Any,
            destination: AddrMatch::Any,
            log: false,
            protocol: RuleProtocol::Any,
            source_port: None,
            destination_port: None,
            routing: Routing::Local,
        }
    }
}
