namespace DockerProxy.Relay.Sctp;

/// <summary>Why one direction of an SCTP association pair stopped.</summary>
internal enum SctpPumpEnd
{
    /// <summary>The source association was shut down (recvmsg returned 0).</summary>
    SourceEnded,

    /// <summary>The source association was aborted or failed.</summary>
    SourceFailed,

    /// <summary>The destination refused a message: it is shut down, aborted or failed.</summary>
    DestinationFailed,

    /// <summary>Our side closed the sockets (the relay is stopping).</summary>
    Aborted,
}
