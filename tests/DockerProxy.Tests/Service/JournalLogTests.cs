using System.Net;
using System.Text.RegularExpressions;
using DockerProxy.Tests.Process;
using DockerProxy.Tests.Support;

namespace DockerProxy.Tests.Service;

/// <summary>
/// When stderr is the journal (JOURNAL_STREAM names stderr's device and inode, systemd.exec(5)),
/// text log lines carry a syslog priority prefix "&lt;N&gt;" and no timestamp (the journal adds its
/// own). The proxy is started through a shell that sets JOURNAL_STREAM from its own stderr (a pipe
/// to the test) and execs the proxy, so the proxy's stderr is that very file.
/// </summary>
[Trait("Category", "Process")]
public sealed partial class JournalLogTests
{
    private const string Shim = "JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2); export JOURNAL_STREAM; exec \"$0\" \"$@\"";

    [SkippableFact]
    public async Task Lines_carry_syslog_priorities_and_no_timestamps_when_stderr_is_the_journal()
    {
        string stderr = await RunAndStopAsync(journal: true);
        string[] lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines.Should().Contain(l => l.StartsWith("<6>Proxying tcp ", StringComparison.Ordinal), "lifecycle events are info: priority 6");
        lines.Should().OnlyContain(l => PriorityPrefix().IsMatch(l));
        lines.Should().NotContain(l => Timestamp().IsMatch(l));
    }

    [SkippableFact]
    public async Task Lines_keep_timestamps_when_JOURNAL_STREAM_names_another_file()
    {
        string stderr = await RunAndStopAsync(journal: false);
        string[] lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines.Should().Contain(l => l.Contains(" INF Proxying tcp ", StringComparison.Ordinal));
        lines.Should().OnlyContain(l => Timestamp().IsMatch(l));
    }

    private static async Task<string> RunAndStopAsync(bool journal)
    {
        await using EchoServer backend = Peers.Echo(IPAddress.Loopback);
        var host = new IPEndPoint(IPAddress.Loopback, Peers.FreePort(IPAddress.Loopback));
        string[] args = ProxyRun.EngineArgs("tcp", host, backend.EndPoint);
        SpawnedProcess proxy = journal
            ? SpawnedProcess.Start("/bin/sh", ["-c", Shim, Binaries.Path(Binaries.Ours), .. args])
            : SpawnedProcess.Start(Binaries.Path(Binaries.Ours), args, new SpawnOptions { Environment = new Dictionary<string, string?> { ["JOURNAL_STREAM"] = "1:1" } });
        await using (proxy)
        {
            (await proxy.ReadStatusTextAsync()).Should().Be("0\n");
            proxy.Signal(Posix.SigTerm);
            (await proxy.WaitForExitAsync()).Should().Be(0);
            return await proxy.StderrAsync();
        }
    }

    [GeneratedRegex(@"^<[0-7]>\S")]
    private static partial Regex PriorityPrefix();

    [GeneratedRegex(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")]
    private static partial Regex Timestamp();
}
