using System.Text.RegularExpressions;
using DockerProxy.Tests.Support;

namespace DockerProxy.Tests.Service;

/// <summary>docs/docker-proxy.1 is written by hand: it must name every flag and variable --help shows.</summary>
[Trait("Category", "Process")]
public sealed partial class ManPageTests
{
    private static readonly string ManPage = File.ReadAllText(Path.Combine(Binaries.RepositoryRoot, "docs", "docker-proxy.1"));

    [SkippableFact]
    public async Task Every_flag_and_environment_variable_of_help_is_in_the_man_page()
    {
        await using SpawnedProcess proxy = SpawnedProcess.Start(Binaries.Path(Binaries.Ours), ["-help"], new SpawnOptions { CaptureStdout = true });
        string help = await proxy.StdoutAsync();
        (await proxy.WaitForExitAsync()).Should().Be(0);

        string[] flags = [.. HelpFlag().Matches(help).Select(m => m.Groups[1].Value)];
        flags.Should().Contain(["proto", "host-ip", "use-listen-fd", "drain-timeout", "metrics-listen"], "the help lists the flags");
        foreach (string flag in flags)
        {
            ManPage.Should().Contain(@"\-" + flag, $"-{flag} is in --help");
        }

        string[] variables = [.. HelpVariable().Matches(help).Select(m => m.Groups[1].Value)];
        variables.Should().NotBeEmpty();
        foreach (string variable in variables)
        {
            ManPage.Should().Contain(@"\fB" + variable + @"\fR", $"{variable} is in --help");
        }
    }

    [Fact]
    public void Every_option_of_the_man_page_exists()
    {
        string[] documented = [.. ManFlag().Matches(ManPage).Select(m => m.Groups[1].Value)];
        documented.Should().NotBeEmpty();
        foreach (string flag in documented)
        {
            bool known = DockerProxy.Cli.Flags.Find(flag) is not null || flag is "h" or "help";
            known.Should().BeTrue($"the man page documents -{flag}");
        }
    }

    // "  -host-ip <IP>   ..." and "  -h, -help   ...": the option column of --help.
    [GeneratedRegex(@"(?m)(?:^\s{2}|, )-([a-z][a-z0-9-]*)")]
    private static partial Regex HelpFlag();

    [GeneratedRegex(@"\[env: ([A-Z0-9_]+)\]")]
    private static partial Regex HelpVariable();

    // ".BI \-host-ip " and ".BR \-v ", " \-version": the tagged paragraphs of OPTIONS.
    [GeneratedRegex(@"(?m)^\.B[IR]? \\-([a-z][a-z0-9-]*)")]
    private static partial Regex ManFlag();
}
