using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace DockerProxy.Logging;

/// <summary>The SCTP relay's events (ids 6xx), per association at Debug.</summary>
internal static partial class Log
{
    [LoggerMessage(EventIds.SctpAssociated, LogLevel.Debug, "SCTP {Client}: backend associated, {ClientStreams} streams from the client, {BackendStreams} to the backend")]
    internal static partial void SctpAssociated(ILogger logger, EndPoint? client, int clientStreams, int backendStreams);

    [LoggerMessage(EventIds.SctpBackendDialFailed, LogLevel.Debug, "SCTP backend {Container} refused {Client}: {Error}")]
    internal static partial void SctpBackendDialFailed(ILogger logger, EndPoint container, EndPoint? client, SocketError error);

    [LoggerMessage(EventIds.SctpAssociationClosed, LogLevel.Debug, "SCTP {Client} closed: {ToContainerMessages} messages ({ToContainerBytes} bytes) to the container, {ToClientMessages} ({ToClientBytes} bytes) back")]
    internal static partial void SctpAssociationClosed(ILogger logger, EndPoint? client, long toContainerMessages, long toContainerBytes, long toClientMessages, long toClientBytes);

    [LoggerMessage(EventIds.SctpMessageSplit, LogLevel.Warning, "SCTP {Client}: a message larger than {Limit} bytes was forwarded in parts")]
    internal static partial void SctpMessageSplit(ILogger logger, EndPoint? client, int limit);
}
