using System.Net.Sockets;
using System.Text;

namespace DockerProxy.Tests.Service;

/// <summary>
/// What systemd's manager does for a Type=notify unit: a unix datagram socket whose address goes
/// into NOTIFY_SOCKET, on a path or in the abstract namespace ("@name").
/// </summary>
internal sealed class NotifySocket : IDisposable
{
    private readonly Socket _socket = new(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
    private readonly string? _path;

    private NotifySocket(string variable, string? path, UnixDomainSocketEndPoint endPoint)
    {
        Variable = variable;
        _path = path;
        _socket.Bind(endPoint);
    }

    /// <summary>The value for NOTIFY_SOCKET.</summary>
    internal string Variable { get; }

    internal static NotifySocket OnPath()
    {
        string path = Path.Combine(Path.GetTempPath(), $"dp-notify-{Guid.NewGuid():N}.sock");
        return new NotifySocket(path, path, new UnixDomainSocketEndPoint(path));
    }

    internal static NotifySocket Abstract()
    {
        string name = $"dp-notify-{Guid.NewGuid():N}";
        return new NotifySocket("@" + name, null, new UnixDomainSocketEndPoint("\0" + name));
    }

    /// <summary>The next datagram as text; fails the test after the timeout.</summary>
    internal async Task<string> ReceiveAsync(TimeSpan? timeout = null)
    {
        byte[] buffer = new byte[4096];
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        int n = await _socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
        return Encoding.UTF8.GetString(buffer, 0, n);
    }

    public void Dispose()
    {
        _socket.Dispose();
        if (_path is not null)
        {
            File.Delete(_path);
        }
    }
}
