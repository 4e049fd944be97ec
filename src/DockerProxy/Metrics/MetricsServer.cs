using System.Net;
using System.Net.Sockets;
using System.Text;
using DockerProxy.Hosting;
using DockerProxy.Logging;
using DockerProxy.Relay;
using Microsoft.Extensions.Logging;

namespace DockerProxy.Metrics;

/// <summary>
/// -metrics-listen: answers <c>GET /metrics</c> with the Prometheus text format, over a plain
/// socket accept loop, one request per connection (Connection: close). Hand-written rather than an
/// exporter package: docs/service.md says why. Requests are served one at a time, each bounded in
/// size and time, so a stuck scraper can delay the next by at most <see cref="RequestTimeout"/>.
/// </summary>
internal sealed class MetricsServer : IAsyncDisposable
{
    private const int MaxRequestBytes = 8192;
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(5);

    private readonly Socket _listener;
    private readonly MetricsCollector _collector;
    private readonly ILogger _logger;
    private Task? _loop;

    private MetricsServer(Socket listener, MetricsCollector collector, ILogger logger)
    {
        _listener = listener;
        _collector = collector;
        _logger = logger;
        LocalEndPoint = listener.LocalEndPoint!;
    }

    /// <summary>Where it listens (with the kernel's port when 0 was asked).</summary>
    internal EndPoint LocalEndPoint { get; }

    /// <summary>Binds now (a bind failure fails the start, like the relay's own), serves once started.</summary>
    internal static MetricsServer Bind(IPEndPoint endPoint, MetricsCollector collector, ILogger logger)
    {
        Socket listener;
        try
        {
            listener = ListenerBinder.BindTcp(endPoint);
        }
        catch (StartupException e)
        {
            throw new StartupException("-metrics-listen: " + e.Message, e);
        }

        return new MetricsServer(listener, collector, logger);
    }

    internal void Start(CancellationToken stoppingToken) => _loop = ServeAsync(stoppingToken);

    private async Task ServeAsync(CancellationToken stoppingToken)
    {
        using CancellationTokenRegistration registration = stoppingToken.Register(static state => ((Socket)state!).Dispose(), _listener);
        byte[] buffer = new byte[MaxRequestBytes];
        while (!stoppingToken.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(CancellationToken.None);
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e) when (SocketErrors.IsListenerClosed(e.SocketErrorCode))
            {
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(100), CancellationToken.None); // out of fds: try again shortly
                continue;
            }

            using (client)
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                timeout.CancelAfter(RequestTimeout);
                try
                {
                    await ServeOneAsync(client, buffer, timeout.Token);
                }
                catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
                {
                    ServiceLog.MetricsRequestFailed(_logger, client.RemoteEndPoint, e.GetType().Name);
                }
            }
        }
    }

    private async Task ServeOneAsync(Socket client, byte[] buffer, CancellationToken cancel)
    {
        int length = 0;
        while (length < buffer.Length)
        {
            int read = await client.ReceiveAsync(buffer.AsMemory(length), SocketFlags.None, cancel);
            if (read == 0)
            {
                return;
            }

            length += read;
            if (buffer.AsSpan(0, length).IndexOf("\r\n\r\n"u8) >= 0 || buffer.AsSpan(0, length).IndexOf("\n\n"u8) >= 0)
            {
                break;
            }
        }

        ReadOnlySpan<byte> request = buffer.AsSpan(0, length);
        int lineEnd = request.IndexOf((byte)'\n');
        ReadOnlySpan<byte> line = lineEnd < 0 ? request : request[..lineEnd];
        string status;
        string contentType = "text/plain; charset=utf-8";
        string body;
        if (!line.StartsWith("GET "u8) && !line.StartsWith("HEAD "u8))
        {
            (status, body) = ("405 Method Not Allowed", "only GET\n");
        }
        else if (Target(line) is var target && (target.SequenceEqual("/metrics"u8) || target.StartsWith("/metrics?"u8)))
        {
            (status, body) = ("200 OK", _collector.RenderPrometheus());
            contentType = "text/plain; version=0.0.4; charset=utf-8";
        }
        else
        {
            (status, body) = ("404 Not Found", "try /metrics\n");
        }

        byte[] content = Encoding.UTF8.GetBytes(body);
        bool head = line.StartsWith("HEAD "u8);
        string header = $"HTTP/1.1 {status}\r\nContent-Type: {contentType}\r\nContent-Length: {content.Length}\r\nConnection: close\r\n\r\n";
        byte[] response = [.. Encoding.ASCII.GetBytes(header), .. head ? [] : content];
        int sent = 0;
        while (sent < response.Length)
        {
            sent += await client.SendAsync(response.AsMemory(sent), SocketFlags.None, cancel);
        }

        client.Shutdown(SocketShutdown.Send);
    }

    // "GET /metrics HTTP/1.1" -> "/metrics".
    private static ReadOnlySpan<byte> Target(ReadOnlySpan<byte> line)
    {
        ReadOnlySpan<byte> rest = line[(line.IndexOf((byte)' ') + 1)..];
        int space = rest.IndexOf((byte)' ');
        return (space < 0 ? rest : rest[..space]).TrimEnd((byte)'\r');
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Dispose();
        if (_loop is not null)
        {
            await _loop;
        }
    }
}
