using System.Diagnostics;
using System.Globalization;
using System.Net;
using DockerProxy.Tests.Support;

namespace DockerProxy.Tests.Relay.Tcp;

/// <summary>
/// A private nginx that accepts only PROXY-protocol connections on 127.0.0.1 and ::1, answers
/// every request with the client address it learnt from the header, and logs it. It runs in the
/// foreground as one process, with its own config, pid file, logs and temp dirs in a temp dir,
/// and is stopped by its PID.
/// </summary>
internal sealed class Nginx : IAsyncDisposable
{
    private readonly System.Diagnostics.Process _process;
    private readonly string _dir;

    private Nginx(System.Diagnostics.Process process, string dir)
    {
        _process = process;
        _dir = dir;
    }

    internal static async Task<Nginx> StartAsync(string binary, int port4, int port6)
    {
        string dir = Directory.CreateTempSubdirectory("docker-proxy-nginx-").FullName;
        string config = string.Create(CultureInfo.InvariantCulture, $$"""
            daemon off;
            master_process off;
            worker_processes 1;
            pid {{dir}}/nginx.pid;
            error_log {{dir}}/error.log info;
            events { worker_connections 64; }
            http {
                log_format client 'proxy_protocol_addr=$proxy_protocol_addr proxy_protocol_port=$proxy_protocol_port peer=$remote_addr';
                access_log {{dir}}/access.log client;
                client_body_temp_path {{dir}}/body;
                proxy_temp_path {{dir}}/proxy;
                fastcgi_temp_path {{dir}}/fastcgi;
                uwsgi_temp_path {{dir}}/uwsgi;
                scgi_temp_path {{dir}}/scgi;
                server {
                    listen 127.0.0.1:{{port4}} proxy_protocol;
                    listen [::1]:{{port6}} proxy_protocol;
                    default_type text/plain;
                    location / { return 200 "client $proxy_protocol_addr $proxy_protocol_port\n"; }
                }
            }
            """);
        File.WriteAllText(Path.Combine(dir, "nginx.conf"), config);
        var start = new ProcessStartInfo(binary)
        {
            ArgumentList = { "-p", dir, "-c", Path.Combine(dir, "nginx.conf"), "-e", Path.Combine(dir, "error.log") },
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        var process = System.Diagnostics.Process.Start(start) ?? throw new InvalidOperationException("nginx did not start");
        var nginx = new Nginx(process, dir);
        try
        {
            bool up = await Poll.UntilAsync(
                () => !process.HasExited && Listening(new IPEndPoint(IPAddress.Loopback, port4)) && Listening(new IPEndPoint(IPAddress.IPv6Loopback, port6)),
                Peers.Patience);
            if (!up)
            {
                string log = File.Exists(Path.Combine(dir, "error.log")) ? File.ReadAllText(Path.Combine(dir, "error.log")) : string.Empty;
                throw new InvalidOperationException($"nginx did not come up: {log}");
            }

            return nginx;
        }
        catch
        {
            await nginx.DisposeAsync();
            throw;
        }
    }

    /// <summary>The access log so far (one line per request).</summary>
    internal async Task<string> AccessLogAsync()
    {
        string path = Path.Combine(_dir, "access.log");
        string text = string.Empty;
        _ = await Poll.UntilAsync(() => File.Exists(path) && (text = File.ReadAllText(path)).Length > 0, Peers.Patience);
        return text;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(); // this PID only: the one we started
        }

        await _process.WaitForExitAsync().WaitAsync(Peers.Patience);
        _process.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private static bool Listening(IPEndPoint endPoint) => TcpTable.ListenerInode(endPoint) is not null;
}
