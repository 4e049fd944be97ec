using System.Net;
using System.Net.Sockets;
using DockerProxy.Relay.Udp;
using Microsoft.Extensions.Logging;

namespace DockerProxy.Logging;

/// <summary>Every log event, source-generated: lifecycle at Information, per-connection at Debug.</summary>
internal static partial class Log
{
    [LoggerMessage(EventIds.Listening, LogLevel.Information, "Proxying {Proto} {Listen} to {Container}")]
    internal static partial void Listening(ILogger logger, string proto, EndPoint listen, EndPoint container);

    [LoggerMessage(EventIds.ListenerAdopted, LogLevel.Debug, "Using the listener passed on fd {Fd}")]
    internal static partial void ListenerAdopted(ILogger logger, int fd);

    [LoggerMessage(EventIds.NoStatusPipe, LogLevel.Debug, "No status pipe on fd 3: started by hand, no status written")]
    internal static partial void NoStatusPipe(ILogger logger);

    [LoggerMessage(EventIds.Stopping, LogLevel.Information, "Stopping on {Signal}")]
    internal static partial void Stopping(ILogger logger, string signal);

    [LoggerMessage(EventIds.GcSummary, LogLevel.Debug, "GC: {Gen0}/{Gen1}/{Gen2} collections, heap {HeapBytes} bytes, committed {CommittedBytes} bytes, allocated {AllocatedBytes} bytes in all")]
    internal static partial void GcSummary(ILogger logger, int gen0, int gen1, int gen2, long heapBytes, long committedBytes, long allocatedBytes);

    [LoggerMessage(EventIds.Stopped, LogLevel.Debug, "Stopped {Proto} {Listen}")]
    internal static partial void Stopped(ILogger logger, string proto, EndPoint listen);

    [LoggerMessage(EventIds.Accepted, LogLevel.Debug, "Accepted {Client}")]
    internal static partial void Accepted(ILogger logger, EndPoint? client);

    [LoggerMessage(EventIds.BackendDialFailed, LogLevel.Debug, "Backend {Container} refused {Client}: {Error}")]
    internal static partial void BackendDialFailed(ILogger logger, EndPoint container, EndPoint? client, SocketError error);

    [LoggerMessage(EventIds.BackendUnreachable, LogLevel.Warning, "Can't forward traffic to backend {Container}: {Error} ({Suppressed} more since the last report)")]
    internal static partial void BackendUnreachable(ILogger logger, EndPoint container, string error, int suppressed);

    [LoggerMessage(EventIds.ConnectionFailed, LogLevel.Warning, "A connection ended on an unexpected error; the relay goes on")]
    internal static partial void ConnectionFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventIds.ConnectionClosed, LogLevel.Debug, "Closed {Client}: {ToContainer} bytes to the container, {ToClient} bytes back")]
    internal static partial void ConnectionClosed(ILogger logger, EndPoint? client, long toContainer, long toClient);

    [LoggerMessage(EventIds.AcceptFailed, LogLevel.Warning, "Accept failed on {Listen}: {Error} ({Suppressed} more since the last report); retrying in {DelayMs} ms")]
    internal static partial void AcceptFailed(ILogger logger, EndPoint listen, SocketError error, int suppressed, int delayMs);

    [LoggerMessage(EventIds.UdpSessionOpened, LogLevel.Debug, "UDP session for {Client} via {Source}")]
    internal static partial void UdpSessionOpened(ILogger logger, UdpEndpoint client, EndPoint? source);

    [LoggerMessage(EventIds.UdpSessionExpired, LogLevel.Debug, "UDP session for {Client} expired")]
    internal static partial void UdpSessionExpired(ILogger logger, UdpEndpoint client);

    [LoggerMessage(EventIds.UdpSessionEvicted, LogLevel.Warning, "UDP sessions on {Listen} at their limit of {Limit}: evicted the least recently used, {Client} ({Suppressed} more since the last report)")]
    internal static partial void UdpSessionEvicted(ILogger logger, EndPoint listen, UdpEndpoint client, int limit, int suppressed);

    [LoggerMessage(EventIds.UdpDropped, LogLevel.Debug, "Dropped a datagram from {Client}: {Error}")]
    internal static partial void UdpDropped(ILogger logger, UdpEndpoint client, string error);

    [LoggerMessage(EventIds.UdpDroppedReported, LogLevel.Warning, "Dropped a datagram from {Client}: {Error} ({Suppressed} more since the last report)")]
    internal static partial void UdpDroppedReported(ILogger logger, UdpEndpoint client, string error, int suppressed);

    [LoggerMessage(EventIds.UdpReplyDropped, LogLevel.Debug, "Dropped a reply to {Client}: {Error}")]
    internal static partial void UdpReplyDropped(ILogger logger, UdpEndpoint client, string error);

    [LoggerMessage(EventIds.UdpBuffers, LogLevel.Debug, "UDP {Listen}: receive buffer {Receive} bytes, send buffer {Send} bytes")]
    internal static partial void UdpBuffers(ILogger logger, EndPoint listen, int receive, int send);

    [LoggerMessage(EventIds.ConnectionLimitReached, LogLevel.Warning, "{Listen} is at its limit of {Limit} connections: closed a new client ({Suppressed} more since the last report)")]
    internal static partial void ConnectionLimitReached(ILogger logger, EndPoint listen, int limit, int suppressed);

    [LoggerMessage(EventIds.ConnectionIdle, LogLevel.Debug, "Closed a connection idle for {Idle}")]
    internal static partial void ConnectionIdle(ILogger logger, TimeSpan idle);

    [LoggerMessage(EventIds.StartupFailed, LogLevel.Error, "Start-up failed: {Reason}")]
    internal static partial void StartupFailed(ILogger logger, string reason);

    [LoggerMessage(EventIds.RelayFailed, LogLevel.Error, "Relay {Listen} failed")]
    internal static partial void RelayFailed(ILogger logger, EndPoint listen, Exception exception);
}
