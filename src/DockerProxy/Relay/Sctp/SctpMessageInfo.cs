namespace DockerProxy.Relay.Sctp;

/// <summary>What travels with each SCTP message and the relay keeps: stream id, PPID (opaque,
/// in whatever byte order the sender chose) and flags (of which only "unordered" is sent on).</summary>
internal readonly record struct SctpMessageInfo(ushort Stream, uint Ppid, ushort Flags);
