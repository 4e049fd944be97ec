namespace DockerProxy.Logging;

/// <summary>Every log event's id, in one place (ranges: 1xx lifecycle, 2xx TCP, 3xx UDP, 4xx service, 5xx many mappings, 6xx SCTP, 9xx failures).</summary>
internal static class EventIds
{
    internal const int Listening = 100;
    internal const int Stopping = 101;
    internal const int Stopped = 102;
    internal const int ListenerAdopted = 103;
    internal const int NoStatusPipe = 104;
    internal const int GcSummary = 105;

    internal const int Accepted = 200;
    internal const int BackendDialFailed = 201;
    internal const int ConnectionClosed = 202;
    internal const int AcceptFailed = 203;
    internal const int ConnectionLimitReached = 204;
    internal const int ConnectionIdle = 205;
    internal const int BackendUnreachable = 206;
    internal const int ConnectionFailed = 207;

    internal const int UdpSessionOpened = 300;
    internal const int UdpSessionExpired = 301;
    internal const int UdpSessionEvicted = 302;
    internal const int UdpDropped = 303;
    internal const int UdpReplyDropped = 304;
    internal const int UdpBuffers = 305;
    internal const int UdpDroppedReported = 306;

    // 4xx: running as a service (systemd, drain, metrics).
    internal const int Draining = 400;
    internal const int Drained = 401;
    internal const int SocketActivated = 402;
    internal const int MetricsListening = 403;
    internal const int MetricsSummary = 404;
    internal const int MetricsRequestFailed = 405;

    // 5xx: many mappings in one process.
    internal const int MappingsListening = 500;
    internal const int MappingListening = 501;
    internal const int Reloaded = 502;
    internal const int ReloadFailed = 503;
    internal const int ReloadMappingFailed = 504;
    internal const int MappingRetired = 505;
    internal const int FileLimitRaised = 506;
    internal const int MappingFailed = 507;

    // 6xx: SCTP.
    internal const int SctpAssociated = 600;
    internal const int SctpBackendDialFailed = 601;
    internal const int SctpAssociationClosed = 602;
    internal const int SctpMessageSplit = 603;

    internal const int StartupFailed = 900;
    internal const int RelayFailed = 901;
}
